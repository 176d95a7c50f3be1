"""The block's swaps, marked at the reference price, by who swapped: what each swap moved in the tokens the
pool's LPs hold, what its trader gained before gas, and the fee it paid the pool. The three sum to zero,
to rounding; on the arbitrage swaps that reads LVR = profit + fees.

LVR here is realized, swap by swap (Milionis, Moallemi, Roughgarden and Zhang 2022, "Automated Market
Making and Loss-Versus-Rebalancing"): the value, at the reference price, of the tokens the pool's liquidity
holds (fees excluded) before an arbitrage swap minus after it; that is what a rebalancing LP trading at the
reference price would not have lost, the arbitrageur's profit before fees. The LP role's ``lvr_usd``
(``envs.roles.liquidity_provider``) is the continuous-time rate of the same loss, |V''(p)| dp^2 / 2, for
one position over a step. The LPs' side is read off the liquidity curve (the pool's active liquidity and
the liquidityNet of the ticks the swap crossed), the arbitrageur's from what it paid and got, and the fee
from the input at the pool's fee rate: three reads, so the identity checks the pool's own accounting.

The block's Aave liquidations are accounted beside the swaps, at Aave's oracle prices (the ones the
liquidation itself priced the collateral at; the oracle follows the block's reference price, to its 8
decimals). Aave V3's LiquidationLogic (executeLiquidationCall, _calculateAvailableCollateralToLiquidate)
takes collateral worth the debt repaid times the liquidation bonus out of the borrower's aTokens; the
bonus part of it, collateral - collateral / bonus, is shared: ``liquidationProtocolFee`` of it goes to the
treasury as aTokens, the rest with the base collateral to the liquidator. So the liquidator gains the
collateral it receives less the debt it repays, the treasury the fee, and the borrower loses the
collateral seized less the debt repaid for it: the three sum to zero. The borrower's side is read off
its aToken and debt balances, the treasury's off its aToken balance and the liquidator's off what it
paid and received, before and after each liquidation: three reads again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import FEE_DENOMINATOR, MAX_TICK, MIN_TICK, USDC_UNIT, WETH_UNIT


def arbitrage_profit_usd(sell_usdc, paid_raw, got_raw, reference_price) -> np.ndarray:
    """What a swap made at the reference price (USDC at $1), before gas."""
    usdc_in = np.where(sell_usdc, paid_raw, -got_raw) / USDC_UNIT
    weth_out = np.where(sell_usdc, got_raw, -paid_raw) / WETH_UNIT
    return weth_out * reference_price - usdc_in


@dataclass(frozen=True)
class CurvePoint:
    """Where pools stand on their liquidity curves, (N,) each: sqrtPriceX96 / 2**96, slot0's tick and the
    active liquidity (raw)."""

    sqrt_price: np.ndarray
    tick: np.ndarray
    liquidity: np.ndarray


def crossed(before: CurvePoint, after: CurvePoint, ticks: np.ndarray) -> np.ndarray:
    """(N, K) which of ``ticks`` a move from ``before`` to ``after`` crossed: those in (lower tick, higher
    tick], as a pool crosses a tick upwards on reaching it and downwards on leaving it."""
    low, high = np.minimum(before.tick, after.tick), np.maximum(before.tick, after.tick)
    return (ticks > low[:, None]) & (ticks <= high[:, None])


def reserves_moved(
    before: CurvePoint, after: CurvePoint, ticks: np.ndarray, nets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(USDC, WETH) raw, (N,): how the tokens the pools' liquidity holds (fees excluded) changed from
    ``before`` to ``after``, integrated along the curve. ``ticks`` (N, K), sorted, are initialized ticks
    with their liquidityNet ``nets``; only those the move crossed count, so a pool's full table or just
    the crossed ticks will do. The liquidity at the lower end of the move starts the walk up; between
    two crossings liquidity L holds L * d(sqrt P) of token1 and L * d(1 / sqrt P) of token0 (the
    Uniswap v3 whitepaper's amounts within one tick range), so only the crossed ticks' columns are priced."""
    hit = crossed(before, after, ticks)
    columns = np.flatnonzero(hit.any(axis=0))  # a move crosses few ticks: price only those columns
    hit, ticks, nets = hit[:, columns], ticks[:, columns], nets[:, columns]
    down = after.sqrt_price < before.sqrt_price  # by price: a move within one tick keeps the tick
    base = np.where(down, after.liquidity, before.liquidity)
    levels = np.cumsum(np.concatenate([base[:, None], np.where(hit, nets, 0.0)], axis=1), axis=1)
    low = np.minimum(before.sqrt_price, after.sqrt_price)[:, None]
    high = np.maximum(before.sqrt_price, after.sqrt_price)[:, None]
    inner = np.clip(get_sqrt_ratio_at_tick(np.clip(ticks, MIN_TICK, MAX_TICK)), low, high)
    edges = np.concatenate([low, inner, high], axis=1)  # non-decreasing: the ticks are sorted
    weth_up = np.sum(levels * np.diff(edges, axis=1), axis=1)  # token1 the liquidity takes in, walking up
    usdc_up = np.sum(levels * np.diff(1.0 / edges, axis=1), axis=1)  # token0, negative: it pays it out
    sign = np.where(down, -1.0, 1.0)
    return sign * usdc_up, sign * weth_up


@dataclass(frozen=True)
class LendingBalances:
    """What a liquidation moves, read before and after it, raw (N,) each: the borrower's WETH collateral
    (aWETH) and USDC debt, the USDC and WETH the liquidator holds, the treasury's aWETH, the USDC the lenders
    are owed where a liquidation can write debt off against them (Morpho Blue's total supply; zeros for Aave,
    whose uncovered debt stays the borrower's); and the oracle's prices, USD per USDC and per WETH. Balances
    past float64's exact integers (a chain's wallets hold 1e30 wei) come as Python ints in object arrays, so
    the change a liquidation makes to them is exact."""

    borrower_weth: np.ndarray
    borrower_debt: np.ndarray
    liquidator_usdc: np.ndarray
    liquidator_weth: np.ndarray
    treasury_weth: np.ndarray
    usdc_price: np.ndarray
    weth_price: np.ndarray
    lenders_usdc: np.ndarray

    def usd(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> np.ndarray:
        """USDC and WETH, raw (floats, or ints in object arrays), in USD at the oracle's prices."""
        usdc, weth = np.asarray(usdc_raw, dtype=float), np.asarray(weth_raw, dtype=float)
        return usdc / USDC_UNIT * self.usdc_price + weth / WETH_UNIT * self.weth_price


#: who swapped on the pool, the groups the block's swaps are accounted in
SWAP_GROUPS = ("arbitrage", "flow", "sandwich", "lp_rebalance", "trader", "liquidation", "borrower")


class BlockAccounts:
    """The block's swaps in N markets, by who swapped (``SWAP_GROUPS``), (N,) running sums in USD at the
    reference price: the swappers' gain (what they got less what they paid, before gas), the fees they
    paid the pool's LPs and the change in the tokens the LPs' liquidity holds (fees excluded, read off the
    curve). Each swap moves value only between its trader and the pool, so the three sum to zero to
    rounding; for arbitrage the LPs' loss is their LVR. A world that keeps them records each swap it
    makes on the pool; the env clears them each block. The block's Aave liquidations are kept beside
    them (``record_liquidation``): the liquidators' bonus, the treasury's protocol fee and the borrowers'
    loss, and the lenders' loss to bad debt (Morpho Blue), (N,) in USD at the oracle's prices, which also sum to
    zero."""

    def __init__(self, n: int, fee_pips: int):
        self.n, self.fee = n, fee_pips / FEE_DENOMINATOR
        self.clear()

    def clear(self) -> None:
        """A new block: nothing swapped or liquidated yet."""
        self.gain_usd = {group: np.zeros(self.n) for group in SWAP_GROUPS}
        self.fees_usd = {group: np.zeros(self.n) for group in SWAP_GROUPS}
        self.reserves_usd = {group: np.zeros(self.n) for group in SWAP_GROUPS}
        self.liquidation_bonus_usd = np.zeros(self.n)
        self.liquidation_fee_usd = np.zeros(self.n)
        self.liquidated_usd = np.zeros(self.n)
        self.bad_debt_usd = np.zeros(self.n)

    def record(
        self,
        group: str,
        sell_usdc: np.ndarray,
        paid_raw: np.ndarray,
        got_raw: np.ndarray,
        reference: np.ndarray,
        moved: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """Add one swap of ``group`` per market (zeros where none): what the swapper paid and got (raw),
        and the LPs' reserves ``moved`` (``reserves_moved``), at the reference price."""
        paid_usd = np.where(sell_usdc, paid_raw / USDC_UNIT, paid_raw / WETH_UNIT * reference)
        self.gain_usd[group] = self.gain_usd[group] + arbitrage_profit_usd(sell_usdc, paid_raw, got_raw, reference)
        self.fees_usd[group] = self.fees_usd[group] + self.fee * paid_usd  # exact input: that share of the input
        self.reserves_usd[group] = self.reserves_usd[group] + moved[0] / USDC_UNIT + moved[1] / WETH_UNIT * reference

    def record_liquidation(self, before: LendingBalances, after: LendingBalances) -> None:
        """Add one liquidation per market (nothing moves where none happened), from the balances it moves
        (``before`` and ``after`` it), at the oracle's prices before it: the liquidator's gain, the WETH it
        received less the USDC it repaid; the treasury's, its protocol fee (Aave V3 LiquidationLogic:
        ``liquidationProtocolFee`` of the bonus part of the collateral seized); the borrower's, its debt
        repaid less its collateral seized (and any debt written off); the lenders', the debt written off
        against them (Morpho Blue's bad debt), negative."""
        usd = before.usd
        self.liquidation_bonus_usd = self.liquidation_bonus_usd + usd(
            after.liquidator_usdc - before.liquidator_usdc, after.liquidator_weth - before.liquidator_weth
        )
        self.liquidation_fee_usd = self.liquidation_fee_usd + usd(
            np.zeros(self.n), after.treasury_weth - before.treasury_weth
        )
        self.liquidated_usd = self.liquidated_usd + usd(
            before.borrower_debt - after.borrower_debt, after.borrower_weth - before.borrower_weth
        )
        self.bad_debt_usd = self.bad_debt_usd + usd(after.lenders_usdc - before.lenders_usdc, np.zeros(self.n))

    def info(self) -> dict[str, np.ndarray]:
        """The block's figures under the keys every agent's info carries them: the arbitrage's LVR, profit
        and fees; each group's gain; the LPs' fees and reserve change over all swaps; the liquidations'
        bonus, protocol fee and borrowers' change, and their sum, the liquidation imbalance; and the sum of
        every figure, swaps' and liquidations', the imbalance: both zero to rounding."""
        gains, fees, reserves = (  # added in turn: each market's sums as a lone market's, bit for bit
            sum(d.values(), np.zeros(self.n)) for d in (self.gain_usd, self.fees_usd, self.reserves_usd)
        )
        liquidations = self.liquidation_bonus_usd + self.liquidation_fee_usd + self.liquidated_usd + self.bad_debt_usd
        return {
            "block_lvr_usd": -self.reserves_usd["arbitrage"],
            "block_arbitrage_profit_usd": self.gain_usd["arbitrage"].copy(),
            "block_arbitrage_fees_usd": self.fees_usd["arbitrage"].copy(),
            **{f"block_swaps_usd_{group}": gain.copy() for group, gain in self.gain_usd.items()},
            "block_lp_fees_usd": fees,
            "block_lp_reserves_usd": reserves,
            "block_liquidation_bonus_usd": self.liquidation_bonus_usd.copy(),
            "block_liquidation_protocol_fee_usd": self.liquidation_fee_usd.copy(),
            "block_liquidated_usd": self.liquidated_usd.copy(),
            "block_liquidation_bad_debt_usd": self.bad_debt_usd.copy(),
            "block_liquidation_imbalance_usd": liquidations,
            "block_imbalance_usd": gains + fees + reserves + liquidations,
        }
