"""The Morpho Blue lending pool as a component of a world: one market lending USDC against WETH collateral at a
liquidation LTV, with the simulator's side (``envs.protocols.morpho_blue`` over the batch axis) and a chain's (the
contract compiled from the package's own sources, ``envs.contracts.morpho_blue``). Both read and act through the
``LendingPool`` interface the Aave pool gives, so a world, its borrowers and its liquidators take either.

Morpho's oracle quotes raw USDC per raw WETH scaled by 1e36; it follows the reference price to 8 decimals, as
Aave's oracle does. A liquidator takes as much as the protocol lets it: all the debt, or all the collateral
where the debt's repayment would seize more than the position holds."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.arrays import ArrayBackend
from envs.contracts.morpho_blue import MorphoBlue, deploy_morpho_blue, error_code
from envs.contracts.tokens import Token
from envs.evm.chain import GAS_ETH
from envs.protocols.morpho_blue import morpho
from envs.protocols.morpho_blue.constants_lib import ORACLE_PRICE_SCALE, ORACLE_PRICE_SCALE_FLOAT
from envs.protocols.morpho_blue.math_lib import mul_div_down, w_mul_down
from envs.protocols.morpho_blue.morpho import liquidation_incentive_factor
from envs.protocols.morpho_blue.shares_math_lib import VIRTUAL_ASSETS, VIRTUAL_SHARES, to_assets_down
from envs.units import BASE_UNIT, USDC_UNIT, WAD, WETH_UNIT
from envs.worlds.block_accounting import LendingBalances
from envs.worlds.lending_pool import (
    ChainAccounts,
    Credit,
    LendingPool,
    Position,
    seized_terms,
    transaction_codes,
)

#: USD with 8 decimals -> Morpho's oracle price (raw USDC per raw WETH x 1e36)
PRICE_PER_BASE = ORACLE_PRICE_SCALE * USDC_UNIT / WETH_UNIT / BASE_UNIT
USD_PER_USDC_BASE = BASE_UNIT / USDC_UNIT  # a raw USDC amount in 8-decimal USD
#: Morpho's calls, as the gas table names them (``envs.contracts.gas_meter``)
MORPHO_GAS = {
    "supply": "morpho_supply_collateral",
    "withdraw": "morpho_withdraw_collateral",
    "borrow": "morpho_borrow",
    "repay": "morpho_repay",
    "liquidation_call": "morpho_liquidate",
}


NO_CROWD = "a Morpho Blue market has no crowd of borrowers: run it with lending.calibration=none"


def oracle_price(usd_per_weth: np.ndarray) -> np.ndarray:
    """Morpho's oracle price for ``usd_per_weth``, rounded to 8 decimals of USD first."""
    return np.round(usd_per_weth * BASE_UNIT) * PRICE_PER_BASE


def morpho_liquidation_terms(every: Position, lltv: float) -> tuple[np.ndarray, np.ndarray]:
    """Morpho.liquidate: all the debt (no close factor), collateral worth it times the liquidation incentive
    factor, none of it to the protocol; what the collateral cannot cover is written off."""
    return seized_terms(every, every.debt_base, liquidation_incentive_factor(lltv) / WAD, 0.0)


def _position(collateral, debt, price, lltv: float) -> Position:
    """A Morpho position as a ``Position``: collateral and debt in 8-decimal USD, the LLTV as both thresholds, and
    the health factor as the most it may borrow over what it owes (Morpho's _isHealthy: borrowed <= maxBorrow)."""
    value = np.floor(collateral * price / ORACLE_PRICE_SCALE_FLOAT)  # mulDivDown: raw USDC
    max_borrow = np.floor(value * lltv / WAD)
    ratio = lltv / WAD
    health = np.where(debt > 0, max_borrow / np.maximum(debt, 1.0), np.inf)
    return Position(
        collateral,
        debt,
        value * USD_PER_USDC_BASE,
        debt * USD_PER_USDC_BASE,
        np.full_like(collateral, ratio),
        np.full_like(collateral, ratio),
        health,
    )


class SimMorphoBlueMarket(LendingPool):
    """``accounts`` borrowers in each of ``n`` worlds' markets, plus a supplier (the last account) who lends
    ``supply_usd`` of USDC at reset, as the local market's liquidity provider does on a chain."""

    GAS = MORPHO_GAS

    def __init__(self, n: int, lltv: float, supply_usd: float, accounts: int, backend: ArrayBackend):
        self.n, self.b, self.supply_usd, self.accounts = n, backend, supply_usd, accounts
        self.params = morpho.MorphoParams(lltv=float(round(lltv * WAD)))
        self.lltv = self.params.lltv

    def reset(self, usd_per_weth: np.ndarray) -> None:
        """The market with only the supplier's USDC in it, the oracle at the start price, the clock at 0."""
        b = self.b
        self.now = b.asarray(np.zeros(self.n))
        self.state = morpho.initial_state(b.xp, self.n, self.accounts + 1, 0.0, b.device)
        self.set_oracle_price(usd_per_weth)
        seed = np.full(self.n, np.floor(self.supply_usd * USDC_UNIT))
        morpho.supply(
            self.state, self.params, self.accounts, b.asarray(seed), self.now, self.b.flags(np.ones(self.n, bool))
        )

    def advance(self, seconds: float) -> None:
        """The market's clock moves ``seconds``: interest accrues at the next action (and in every read)."""
        self.now = self.now + seconds

    def set_oracle_price(self, usd_per_weth: np.ndarray) -> None:
        self._usd = np.round(usd_per_weth * BASE_UNIT) / BASE_UNIT
        self._price = self.b.asarray(oracle_price(usd_per_weth))

    def _np(self, x) -> np.ndarray:
        return self.b.to_numpy(x)

    # --- reads ------------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return self._usd.copy()

    def _debt(self, account: int) -> np.ndarray:
        """What ``account`` owes with interest accrued to now (MorphoBalancesLib.expectedBorrowAssets)."""
        return self._np(morpho.expected_borrow_assets(self.state, self.params, account, self.now))

    def position(self, account: int) -> Position:
        collateral = self._np(self.state.collateral[:, account]).copy()
        return _position(collateral, self._debt(account), self._np(self._price), self.lltv)

    def lending_balances(self, who, account):
        """The borrower's from its position; the liquidator's as the market's USDC cash and its WETH, negated (no
        wallet of it is kept here; a liquidation moves them by what it pays and takes); no treasury: Morpho takes
        no cut of a liquidation; the lenders' claim, the market's total supply, which bad debt writes down."""
        pos, totals = self.position(account), morpho.expected_totals(self.state, self.params, self.now)
        cash = self._np(totals.total_supply_assets) - self._np(totals.total_borrow_assets)
        return LendingBalances(
            pos.collateral_weth,
            pos.debt_usdc,
            -cash,
            -self._np(self.state.collateral).sum(axis=1),
            np.zeros(self.n),
            np.ones(self.n),
            self.oracle_price(),
            self._np(totals.total_supply_assets),
        )

    def liquidation_terms(self, every):
        return morpho_liquidation_terms(every, self.lltv)

    def reserve_usage(self, symbol):
        totals = morpho.expected_totals(self.state, self.params, self.now)
        if symbol == "WETH":  # collateral is held, not lent
            return self._np(self.state.collateral).sum(axis=1), np.zeros(self.n)
        borrowed = self._np(totals.total_borrow_assets)
        return self._np(totals.total_supply_assets) - borrowed, borrowed

    # --- actions ----------------------------------------------------------------------------
    def supply(self, account, weth_raw, mask):
        return self._np(
            morpho.supply_collateral(self.state, account, self.b.masked(weth_raw, mask), self.b.flags(mask))
        )

    def withdraw(self, account, weth_raw, mask):
        held = self._np(self.state.collateral[:, account])
        amount = np.where(np.isinf(weth_raw), held, weth_raw)
        code = self._np(
            morpho.withdraw_collateral(
                self.state, self.params, self._price, account, self.b.masked(amount, mask), self.now, self.b.flags(mask)
            )
        )
        return np.where(mask & (code == 0), amount, 0.0), code

    def borrow(self, account, usdc_raw, mask):
        return self._np(
            morpho.borrow(
                self.state,
                self.params,
                self._price,
                account,
                self.b.masked(usdc_raw, mask),
                self.now,
                self.b.flags(mask),
            )
        )

    def repay(self, account, usdc_raw, mask):
        """Up to the debt: an amount that covers it repays all the account's shares (Morpho.repay by assets would
        burn more shares than it holds and revert)."""
        amount = np.where(usdc_raw >= self._debt(account), np.inf, usdc_raw)
        paid, code = morpho.repay(
            self.state, self.params, account, self.b.masked(amount, mask), self.now, self.b.flags(mask)
        )
        return self._np(paid), self._np(code)

    def liquidation_call(self, who, account, mask):
        """All the debt where that seizes no more than the collateral, else all the collateral (Morpho.liquidate
        takes one of the two: repaid shares or seized assets)."""
        xp, s = self.b.xp, self.state
        totals = morpho.expected_totals(s, self.params, self.now)
        shares, collateral = s.borrow_shares[:, account], s.collateral[:, account]
        debt = to_assets_down(shares, totals.total_borrow_assets, totals.total_borrow_shares)
        lif = liquidation_incentive_factor(self.lltv)
        seize_all = mul_div_down(
            w_mul_down(debt, lif), ORACLE_PRICE_SCALE_FLOAT, self._price
        )  # as Morpho.liquidate computes it
        by_shares = seize_all <= collateral
        seized, repaid, code = morpho.liquidate(
            s,
            self.params,
            self._price,
            account,
            xp.where(by_shares, 0.0, collateral),
            xp.where(by_shares, shares, 0.0),
            self.now,
            self.b.flags(mask),
        )
        return self._np(repaid), self._np(seized), self._np(code)

    def fund_account(self, account, weth_raw, mask):
        pass  # the scripted borrowers bring their WETH from outside the market

    def crowd_act(self, account, action, symbol, raw, mask):
        raise ValueError(NO_CROWD)


SUPPLIER = f"0x{0x5E11E5 << 100:040x}"  # the account that lends the market's USDC on a chain


def deploy_market(
    tokens: dict[str, Token], usd_per_weth: float, lltv: float, supply_usd: float, spenders: list[str], credit: Credit
) -> MorphoBlue:
    """Morpho Blue on the tokens' chain with its USDC/WETH market at ``lltv``, the oracle at ``usd_per_weth``,
    ``supply_usd`` of USDC lent by ``SUPPLIER``, and each of ``spenders`` letting Morpho take its tokens."""
    usdc, weth = tokens["USDC"], tokens["WETH"]
    blue = deploy_morpho_blue(
        usdc.contract.chain,
        usdc,
        weth,
        int(round(usd_per_weth * BASE_UNIT)) * int(PRICE_PER_BASE),
        int(round(lltv * WAD)),
    )
    usdc.contract.chain.set_balance(SUPPLIER, GAS_ETH)
    credit(usdc, SUPPLIER, int(np.floor(supply_usd * USDC_UNIT)))
    for who in [SUPPLIER, *spenders]:
        blue.approve(who)
    blue.supply(SUPPLIER, int(np.floor(supply_usd * USDC_UNIT)))
    return blue


def exact_assets(shares: int, total_assets: int, total_shares: int, up: bool) -> int:
    """SharesMathLib.toAssetsUp / toAssetsDown in exact integers (the chain side's reads)."""
    numerator, denominator = shares * (total_assets + VIRTUAL_ASSETS), total_shares + VIRTUAL_SHARES
    return -(-numerator // denominator) if up else numerator // denominator


class ChainMorphoBlueMarket(ChainAccounts, LendingPool):
    """``blue`` (one world), with the accounts ``ChainAccounts`` names."""

    GAS = MORPHO_GAS

    def __init__(self, blue: MorphoBlue, borrower: str, wallet: Callable[[str], str], credit: Credit | None = None):
        super().__init__(blue.chain, borrower, wallet, credit)
        self.blue, self.lltv = blue, float(blue.lltv)

    # --- reads ------------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return np.array([self.blue.price() / PRICE_PER_BASE / BASE_UNIT])

    def set_oracle_price(self, usd_per_weth: np.ndarray) -> None:
        self.blue.set_price(int(round(float(usd_per_weth[0]) * BASE_UNIT)) * int(PRICE_PER_BASE))

    def _totals(self) -> tuple[int, int, int, int]:
        """(supply assets, supply shares, borrow assets, borrow shares) with interest accrued to the latest block,
        as MorphoBalancesLib.expectedMarketBalances reads them: the IRM's rate over the time since the last
        update, compounded by MathLib.wTaylorCompounded."""
        m = self.blue.market()
        supply, borrow = m["totalSupplyAssets"], m["totalBorrowAssets"]
        elapsed = self.blue.chain.timestamp() - m["lastUpdate"]
        if elapsed and borrow:
            rate = self.blue.irm.call("borrowRateView", self.blue.market_params, self.blue.market_tuple())
            first = rate * elapsed
            second = first * first // (2 * WAD)
            third = second * first // (3 * WAD)
            interest = borrow * (first + second + third) // WAD
            supply, borrow = supply + interest, borrow + interest
        return supply, m["totalSupplyShares"], borrow, m["totalBorrowShares"]

    def position(self, account: int) -> Position:
        p = self.blue.position(self.address(account))
        _, _, borrow, borrow_shares = self._totals()
        debt = exact_assets(p["borrowShares"], borrow, borrow_shares, up=True)
        return _position(
            np.array([float(p["collateral"])]),
            np.array([float(debt)]),
            np.array([float(self.blue.price())]),
            self.lltv,
        )

    def lending_balances(self, who, account):
        """The borrower's collateral and debt, the liquidator's wallet and the lenders' total supply, as exact
        integers; no treasury."""
        pos, wallet = self.position(account), self.wallet(who)
        usdc, weth = self.blue.loan, self.blue.collateral

        def exact(raw: int) -> np.ndarray:
            return np.array([raw], dtype=object)

        return LendingBalances(
            exact(int(pos.collateral_weth[0])),
            exact(int(pos.debt_usdc[0])),
            exact(usdc.balance_of(wallet)),
            exact(weth.balance_of(wallet)),
            exact(0),
            np.ones(1),
            self.oracle_price(),
            exact(self._totals()[0]),
        )

    def liquidation_terms(self, every):
        return morpho_liquidation_terms(every, self.lltv)

    def reserve_usage(self, symbol):
        if symbol == "WETH":
            return np.array([float(self.blue.collateral.balance_of(self.blue.morpho.address))]), np.zeros(1)
        supply, _, borrow, _ = self._totals()
        return np.array([float(supply - borrow)]), np.array([float(borrow)])

    # --- actions ----------------------------------------------------------------------------
    def supply(self, account, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        who = self.address(account)
        amount = min(int(weth_raw[0]), self.blue.collateral.balance_of(who))  # a float64 amount can round past it
        return transaction_codes(lambda: self.blue.supply_collateral(who, amount), error_code)

    def withdraw(self, account, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1, np.int64)
        who = self.address(account)
        amount = self.blue.position(who)["collateral"] if np.isinf(weth_raw[0]) else int(weth_raw[0])
        code = transaction_codes(lambda: self.blue.withdraw_collateral(who, amount), error_code)
        return np.array([float(amount if code[0] == 0 else 0)]), code

    def borrow(self, account, usdc_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        return transaction_codes(lambda: self.blue.borrow(self.address(account), int(usdc_raw[0])), error_code)

    def repay(self, account, usdc_raw, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1, np.int64)
        who, token = self.address(account), self.blue.loan
        before = token.balance_of(who)
        if np.isinf(usdc_raw[0]) or usdc_raw[0] >= self.position(account).debt_usdc[0]:  # all of it: by shares
            code = transaction_codes(
                lambda: self.blue.repay(who, shares=self.blue.position(who)["borrowShares"]), error_code
            )
        else:
            code = transaction_codes(lambda: self.blue.repay(who, assets=int(usdc_raw[0])), error_code)
        return np.array([float(before - token.balance_of(who))]), code

    def liquidation_call(self, who, account, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1), np.zeros(1, np.int64)
        borrower, liquidator = self.address(account), self.wallet(who)
        p = self.blue.position(borrower)
        supply, _, borrow, borrow_shares = self._totals()
        debt = exact_assets(p["borrowShares"], borrow, borrow_shares, up=False)
        lif = int(liquidation_incentive_factor(self.lltv))
        seize_all = debt * lif // WAD * ORACLE_PRICE_SCALE // self.blue.price()
        usdc, weth = self.blue.loan, self.blue.collateral
        paid, got = usdc.balance_of(liquidator), weth.balance_of(liquidator)
        if seize_all <= p["collateral"]:  # Morpho.liquidate takes one of the two: repaid shares or seized assets
            seized, shares = 0, p["borrowShares"]
        else:
            seized, shares = p["collateral"], 0
        code = transaction_codes(lambda: self.blue.liquidate(liquidator, borrower, seized, shares), error_code)
        return (
            np.array([float(paid - usdc.balance_of(liquidator))]),
            np.array([float(weth.balance_of(liquidator) - got)]),
            code,
        )

    def fund_account(self, account, weth_raw, mask):
        credit = self._fundable()
        if mask[0]:
            who = self.address(account)
            self.blue.chain.set_balance(who, GAS_ETH)
            credit(self.blue.collateral, who, int(weth_raw[0]))
            self.blue.approve(who)

    def crowd_act(self, account, action, symbol, raw, mask):
        raise ValueError(NO_CROWD)
