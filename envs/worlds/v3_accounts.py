"""What an account does on a USDC/WETH Uniswap V3 pool, whatever the backend (the simulator, a chain world, the
live chain): the wallet slots (an int each) and the scripted accounts (a name each) in the ledger, swaps booked to
them, and the selected slot's position read and rebalanced through the pool component (``v3_pool``). Arrays are
numpy (N,) in human units: USD, whole tokens, ticks. The scripted market around the pool (``envs.worlds.market``)
and the live adapter's view of a chain (``agents.live.market``) are both built on it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import numpy as np

from envs.assets.gas import action_units, gas_units
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import LIQUIDITY_UNIT, MAX_TICK, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts, CurvePoint, reserves_moved
from envs.worlds.ledger import Ledger
from envs.worlds.v3_pool import UniswapV3Pool, Wallet

if TYPE_CHECKING:
    from envs.worlds.lending import LendingMarket
    from envs.worlds.world import PoolBeside


#: the NonfungiblePositionManager and SwapRouter calls a rebalance makes, for gas
REBALANCE_CLOSE = ("v3_decrease_liquidity", "v3_collect", "v3_burn")


def close_gas(had_position: np.ndarray) -> np.ndarray:
    return had_position * float(action_units(*REBALANCE_CLOSE))


def rebalance_gas(had_position: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    g = gas_units()
    return (close_gas(had_position) + swapped * g["v3_swap"] + g["v3_mint"]).astype(float)


def swap_to_range_ratio(usdc_raw, weth_raw, sqrt_price, sqrt_lower, sqrt_upper):
    """How much to sell (and which way) so the wallet holds a range's token ratio at the pool price
    (impact and fee aside: the mint takes what fits and leaves the rest idle)."""
    per_l0 = (sqrt_upper - sqrt_price) / (sqrt_price * sqrt_upper)  # USDC per unit of liquidity
    per_l1 = sqrt_price - sqrt_lower  # WETH per unit of liquidity
    value1 = usdc_raw * sqrt_price**2 + weth_raw  # in raw WETH at the pool price
    want_usdc = value1 / (per_l0 * sqrt_price**2 + per_l1) * per_l0
    sell_usdc = usdc_raw > want_usdc
    amount = np.where(sell_usdc, usdc_raw - want_usdc, weth_raw - (value1 - want_usdc * sqrt_price**2))
    return sell_usdc, np.floor(np.clip(amount, 0.0, None))


FULL_RANGE = MAX_TICK  # a half-width that reaches TickMath's bounds: the full range


def centered_range(tick: np.ndarray, half_width: np.ndarray, spacing: int) -> tuple[np.ndarray, np.ndarray]:
    """A range of ``half_width`` ticks each side of ``tick``'s spacing cell, within the tick bounds."""
    half = np.maximum(np.asarray(half_width) // spacing, 1) * spacing
    center = np.asarray(tick) // spacing * spacing
    lowest, highest = -(FULL_RANGE // spacing) * spacing, FULL_RANGE // spacing * spacing
    return np.maximum(center - half, lowest), np.minimum(center + half + spacing, highest)


class UniswapV3Accounts(ABC):
    """Wallet slots on a USDC/WETH pool: the LP agents', then (in a scripted market) the scripted traders'. The
    ``agent_*`` methods and ``rebalance`` act for the selected slot (``select_lp``; the first unless told)."""

    SWAP_GAS = "v3_swap"  # a swap through the pool: SwapRouter.exactInputSingle (``envs.assets.gas``)
    n: int  # worlds
    v3_pool: UniswapV3Pool  # the pool, as every backend reads it
    ledger: Ledger  # the wallets: each slot's, and the scripted accounts' a world books
    fee_pips: int
    tick_spacing: int
    dt: float  # seconds per step
    slots: int = 1  # wallet slots: the LP agents', then the scripted traders'
    lp: int = 0  # the selected one
    #: the block's swap accounts, where an env keeps them (``envs.worlds.block_accounting``)
    accounts: BlockAccounts | None = None
    #: (N,) the scripted flows' swap volume in USD since reset, where a world counts it (the turnover check)
    flow_volume_usd: np.ndarray | None = None
    _trying: bool = False  # inside ``trying``: swaps are undone, booked to nobody, recorded nowhere

    def select_lp(self, lp: int) -> None:
        """Make slot ``lp`` (LP agent ``lp``, or a scripted trader's slot after them) the one the ``agent_*``
        methods and ``rebalance`` act for."""
        if not 0 <= lp < self.slots:
            raise ValueError(
                f"LP {lp} does not exist: this market has {self.slots} wallet slot(s), its LP agents' and "
                f"scripted traders'"
            )
        self.lp = lp

    @property
    @abstractmethod
    def lp_agents(self) -> int:
        """The LP agents among the slots."""

    @property
    def pools_beside(self) -> tuple[PoolBeside, ...]:
        """The pools held beside this one (a world's: ``World.pools_beside``); none here."""
        return ()

    @property
    def lending(self) -> LendingMarket | None:
        """The lending side held beside the pool, whose swaps go through ``trade`` (a world's: ``World.lending``;
        the live borrower's market's); none here."""
        return None

    # --- the wallets: the slots' (an int each) and the scripted accounts' (a name each), in the ledger -----
    def wallet_raw(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) raw in wallet slot ``slot``."""
        return self.ledger.balances(slot)

    def slot_wallet(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) in wallet slot ``slot`` (a scripted trader's), whole tokens."""
        usdc, weth = self.wallet_raw(slot)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def shift_wallet(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """Add signed raw amounts to the selected LP's wallet, off the market (capital held back and returned)."""
        self.ledger.shift(self.lp, usdc_raw, weth_raw)

    # --- swaps on the pool ------------------------------------------------------------------
    @contextmanager
    def trying(self) -> Iterator[None]:
        """Swaps in this context are tried on the pool and undone at its end: nobody's wallet books them, the
        block's accounts do not record them."""
        self._trying = True
        try:
            with self.v3_pool.trial():
                yield
        finally:
            self._trying = False

    def trade(
        self,
        group: str,
        wallet: Wallet,
        sell_usdc: np.ndarray,
        raw: np.ndarray,
        limit: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        min_out: np.ndarray | None = None,
        count: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap from ``wallet`` on the pool (``UniswapV3Pool.swap``), booked to the wallet and
        recorded in the block's accounts as ``group``'s (where an env keeps them), its input counted in
        ``flow_volume_usd`` with ``count``; returns (paid, got), raw."""
        mask = np.ones(self.n, bool) if mask is None else mask
        accounts = None if self._trying else self.accounts
        before = None if accounts is None else self.curve_point()
        paid, got = self.v3_pool.swap(wallet, sell_usdc, raw, limit, mask, min_out)
        if self._trying:
            return paid, got
        if accounts is not None and before is not None:
            after = self.curve_point()
            moved = reserves_moved(before, after, *self.v3_pool.crossed_ticks(before, after))
            accounts.record(group, sell_usdc, paid, got, self.reference_price(), moved)
        self.ledger.moved(wallet, np.where(sell_usdc, -paid, got), np.where(sell_usdc, got, -paid))
        if count and self.flow_volume_usd is not None:  # what a pool's daily volume counts
            self.flow_volume_usd = self.flow_volume_usd + np.where(
                sell_usdc, paid / USDC_UNIT, paid / WETH_UNIT * self.reference_price()
            )
        return paid, got

    def quote(self, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What an exact-input swap from ``wallet`` on the pool would get, raw: tried and undone (``trying``)."""
        with self.trying():
            _, got = self.trade("quote", wallet, sell_usdc, raw, mask=mask)
        return got

    @abstractmethod
    def reference_price(self) -> np.ndarray: ...

    def pool_price(self) -> np.ndarray:
        """USD per WETH at each pool's price."""
        return self.v3_pool.price()

    def tick(self) -> np.ndarray:
        return self.v3_pool.tick()

    def curve_point(self) -> CurvePoint:
        """Where each pool stands on its liquidity curve."""
        return self.v3_pool.curve_point()

    # --- the selected LP's position, through the component ------------------------------------------------
    def agent_wallet(self) -> tuple[np.ndarray, np.ndarray]:
        """Idle (USDC, WETH) the agent holds outside the pool."""
        return self.slot_wallet(self.lp)

    def agent_range(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower tick, upper tick, liquidity in whole-token units sqrt(USDC * WETH); 0 without a position)."""
        lower, upper, liquidity = self.v3_pool.position(self.lp)
        return lower, upper, liquidity / LIQUIDITY_UNIT

    def agent_position_tokens(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) the agent's liquidity is worth at the pool price, fees excluded."""
        usdc, weth = self.v3_pool.position_tokens(self.lp)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def agent_fees(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) fees earned and not yet collected."""
        usdc, weth = self.v3_pool.fees_owed(self.lp)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def _withdraw(self, mask: np.ndarray) -> np.ndarray:
        """The selected LP's liquidity and fees back to its wallet in masked worlds; returns had a position?"""
        had, got0, got1 = self.v3_pool.withdraw(self.lp, mask)
        self.ledger.moved(self.lp, got0, got1)
        return had

    def close_position(self, mask: np.ndarray) -> np.ndarray:
        """In masked worlds: withdraw the position's liquidity and fees to the wallet and burn it.
        Returns gas used (N,)."""
        return close_gas(self._withdraw(mask))

    def rebalance(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """In masked worlds: close the position (collecting fees), swap the wallet to the new range's
        ratio, open a range of ``half_width_ticks`` around the current tick. Returns gas used (N,)."""
        slot = self.lp
        had = self._withdraw(mask)
        lower, upper = centered_range(self.tick(), half_width_ticks, self.tick_spacing)
        sell_usdc, amount = swap_to_range_ratio(
            *self.wallet_raw(slot),
            self.v3_pool.sqrt_price(),
            get_sqrt_ratio_at_tick(lower),
            get_sqrt_ratio_at_tick(upper),
        )
        swapping = mask & (amount > 0)
        self.trade("lp_rebalance", slot, sell_usdc, np.where(swapping, amount, 0.0), None, swapping)
        used0, used1 = self.v3_pool.mint(slot, lower, upper, *self.wallet_raw(slot), mask)
        self.ledger.moved(slot, -used0, -used1)
        return np.where(mask, rebalance_gas(had, swapping), 0.0)
