"""The one interface the Aave roles use, whatever the backend: a USDC/WETH Uniswap V3 market (as in
``market.py``) plus an Aave V3 market whose oracle follows the reference price, scripted borrowers
who keep a target LTV, and a scripted liquidator who sells what it seizes into the pool.

Aave account 0 is the borrower agent, with a wallet of its own (apart from the LP's); accounts
1..K are the scripted borrowers, who supply WETH and borrow USDC. Account K + 1 is the crowd: the rest
of the reserves' borrowers, who borrow against WBTC collateral until each calibrated reserve charges
the rate they are willing to pay, a fitted mean-reverting path (``envs.flows.borrow_demand``).
Amounts are raw token units, (N,) float64; ``Position`` values are in the oracle's base currency (USD, 8 decimals) as Aave reports them.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, fields

import numpy as np

from envs.assets import AaveReserveParams, aave_reserve_params
from envs.flows.borrow_demand import DEFAULT_CALIBRATION, NO_CALIBRATION, LendingCalibration, load_calibration
from envs.worlds.block_accounting import BlockAccounts, LendingBalances
from envs.worlds.market import WBTC_PRICE_USD, UniswapV3Market
from envs.worlds.sim import USDC_UNIT, WETH_UNIT

AGENT_ACCOUNT = 0
BASE_UNIT = 1e8  # Aave's oracle quotes USD with 8 decimals
#: the crowd's WBTC collateral, in multiples of ``supply_usd``: its LTV stays near 25% with both reserves lent out
CROWD_COLLATERAL = 8.0
WBTC_UNIT = 1e8
#: the wallets that swap and liquidate: the LP agent's, the borrower agent's (Aave account 0), the
#: learning liquidator's, the scripted competitor's and the traders'
AGENT, BORROWER, AGENT_LIQUIDATOR, COMPETITOR, TRADER = "agent", "borrower", "agent_liquidator", "competitor", "trader"
WALLETS = (AGENT, BORROWER, AGENT_LIQUIDATOR, COMPETITOR, TRADER)
#: the group of the block's accounts (``envs.worlds.block_accounting``) each wallet's swaps are recorded in
SWAP_GROUP = {
    AGENT: "borrower",  # the Aave envs' agent: a levered position
    BORROWER: "borrower",
    AGENT_LIQUIDATOR: "liquidation",  # selling the collateral it seized
    COMPETITOR: "liquidation",
    TRADER: "trader",
}


def check_wallet(who: str, lp_agents: int = 1) -> None:
    """A market's swaps and liquidations name one of ``WALLETS``; any other name is a bug, not a new wallet. The
    LP agent's (``AGENT``) is there only in a world of ``lp_agents`` > 0 (``V3WorldParams.lps``)."""
    if who not in WALLETS:
        raise ValueError(f"unknown wallet {who!r}: the Aave market's wallets are {list(WALLETS)}")
    if who == AGENT and lp_agents < 1:
        raise ValueError(
            f"wallet {who!r} is the LP agent's, and this world has none (V3WorldParams.lps=0): build it with lps=1 "
            f"to trade from it"
        )


@dataclass(frozen=True)
class LendingParams:
    """The scripted borrowers: each supplies a lognormal amount of WETH (median ``borrower_usd``),
    borrows USDC to a target LTV drawn from ``target_ltv``, and borrows back up to it whenever a
    rising price leaves it ``relever_band`` below target. A liquidated-out borrower opens anew.
    ``calibration`` names the fitted rate curves and borrow demand the reserves run (a shipped
    ``envs/assets/lending_<name>.json`` or a path); ``"none"`` keeps the 2025-03-19 rate curves and no
    crowd, so the scripted borrowers alone use the reserves."""

    borrowers: int = 8
    borrower_usd: float = 200_000.0
    target_ltv: tuple[float, float] = (0.70, 0.80)
    relever_band: float = 0.05
    supply_usd: float = 50_000_000.0  # seeded into each Aave reserve, as the local mainnet does
    calibration: str = DEFAULT_CALIBRATION

    def __post_init__(self):
        low, high = self.target_ltv
        if self.borrowers < 0 or self.borrower_usd <= 0 or self.supply_usd <= 0:
            raise ValueError("borrowers must be >= 0; borrower_usd and supply_usd positive")
        if not 0 < low <= high < 1:
            raise ValueError(f"target_ltv must be a range within (0, 1), got {self.target_ltv}")
        self.calibrated()  # a bad name fails here, naming the choices

    def calibrated(self) -> LendingCalibration | None:
        """The fitted curves and demand ``calibration`` names; None for ``"none"``."""
        return load_calibration(NO_CALIBRATION if self.calibration is None else str(self.calibration))

    def reserve_params(self) -> dict[str, AaveReserveParams]:
        """The reserves' parameters: the 2025-03-19 snapshot with the calibrated rate curves."""
        calibration = self.calibrated()
        return aave_reserve_params() if calibration is None else calibration.reserve_params(aave_reserve_params())


@dataclass
class Position:
    """An Aave account, (N,) each: WETH supplied and USDC owed (raw); collateral and debt in base
    units; the liquidation threshold (fraction) and the health factor (inf without debt)."""

    collateral_weth: np.ndarray
    debt_usdc: np.ndarray
    collateral_base: np.ndarray
    debt_base: np.ndarray
    liquidation_threshold: np.ndarray
    max_ltv: np.ndarray
    health_factor: np.ndarray

    @property
    def ltv(self) -> np.ndarray:
        return np.where(
            self.collateral_base > 0,
            self.debt_base / np.maximum(self.collateral_base, 1.0),
            np.where(self.debt_base > 0, np.inf, 0.0),
        )


class AaveMarket(UniswapV3Market):
    """The primitives below are backend-specific; the scripted borrowers and liquidator are written
    once on top of them, so every backend runs the same behaviour."""

    lending: LendingParams
    #: the block's accounts, where an env keeps them (``envs.worlds.block_accounting``)
    accounts: BlockAccounts | None = None

    # --- primitives -------------------------------------------------------------------------
    @abstractmethod
    def oracle_price(self) -> np.ndarray:
        """USD per WETH as Aave's oracle reports it (8 decimals)."""

    @abstractmethod
    def position(self, account: int) -> Position: ...

    @abstractmethod
    def borrower_wallet(self) -> tuple[np.ndarray, np.ndarray]:
        """Idle (USDC, WETH) the borrower agent holds outside Aave, whole tokens."""

    @abstractmethod
    def fund_borrower(self, weth_raw: np.ndarray) -> None:
        """Give the borrower agent WETH (its starting capital)."""

    @abstractmethod
    def supply(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Supply WETH as collateral; returns Aave error codes (0 on success)."""

    @abstractmethod
    def withdraw(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def borrow(self, account: int, usdc_raw: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def repay(self, account: int, usdc_raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Repay up to ``usdc_raw`` of the debt; returns (repaid, codes)."""

    def liquidate(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``who`` liquidates as much of ``account``'s USDC debt as the close factor allows, taking WETH;
        returns (USDC repaid, WETH received, codes). Where an env keeps the block's accounts, the balances
        the liquidation moves are read before and after it and recorded there."""
        if self.accounts is None or not mask.any():
            return self._liquidation_call(who, account, mask)
        before = self.lending_balances(who, account)
        result = self._liquidation_call(who, account, mask)
        self.accounts.record_liquidation(before, self.lending_balances(who, account))
        return result

    @abstractmethod
    def _liquidation_call(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The liquidation ``liquidate`` describes, on the backend; ``liquidate`` records it."""

    @abstractmethod
    def lending_balances(self, who: str, account: int) -> LendingBalances:
        """The balances a liquidation of ``account`` by ``who`` moves, as the protocol holds them, and
        Aave's oracle prices (``envs.worlds.block_accounting``)."""

    @abstractmethod
    def swap(self, who: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap through the pool from ``who``'s wallet; returns (paid, got), raw."""

    # --- the scripted market ----------------------------------------------------------------
    def step(self) -> None:
        """The reference and the oracle move, the arbitrageur and noise traders trade, the scripted
        liquidator clears unhealthy accounts, the borrowers re-lever."""
        self.move_reference()
        self.arbitrage()
        self.noise()
        self.recenter()
        self.liquidate_unhealthy(COMPETITOR)
        self.borrowers_act()

    def reset_borrowers(self, rng: np.random.Generator) -> None:
        """Draw the scripted borrowers' sizes and targets, and open their positions."""
        p, k = self.lending, self.lending.borrowers
        self._borrower_usd = p.borrower_usd * np.exp(0.5 * rng.standard_normal((self.n, k)))
        self._borrower_target = rng.uniform(*p.target_ltv, size=(self.n, k))
        self._scripted_borrowers_act()
        self.reset_crowd(rng)

    def borrowers_act(self) -> None:
        """The scripted borrowers act, then the crowd takes each calibrated reserve to its next utilization."""
        self._scripted_borrowers_act()
        self.crowd_hold(self.dt)

    def _scripted_borrowers_act(self) -> None:
        """Each scripted borrower opens a position if it has none, and borrows up to its target LTV
        when it has drifted ``relever_band`` below it."""
        every = np.ones(self.n, bool)
        for i in range(self.lending.borrowers):
            account = i + 1
            pos = self.position(account)
            empty = pos.collateral_weth == 0
            if empty.any():
                size = np.floor(self._borrower_usd[:, i] / self.oracle_price() * WETH_UNIT)
                self._fund_scripted_borrower(account, size, empty)
                self.supply(account, size, empty)
                pos = self.position(account)
            target = self._borrower_target[:, i]
            want = every & (pos.collateral_weth > 0) & (pos.ltv < target - self.lending.relever_band)
            amount = np.floor(np.clip(target * pos.collateral_base - pos.debt_base, 0.0, None) / BASE_UNIT * USDC_UNIT)
            want &= amount > 0
            if want.any():
                self.borrow(account, amount, want)

    @abstractmethod
    def _fund_scripted_borrower(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> None:
        """Give a scripted borrower the WETH it is about to supply (minted on a chain)."""

    @abstractmethod
    def reserve_usage(self, symbol: str) -> tuple[np.ndarray, np.ndarray]:
        """(cash the reserve holds, its total variable debt), raw, (N,): utilization = debt / (cash + debt)."""

    @abstractmethod
    def _crowd_act(self, action: str, symbol: str, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The crowd (account K + 1) supplies, borrows or repays ``raw`` of ``symbol``; returns error codes."""

    def utilization(self, symbol: str) -> np.ndarray:
        """Debt over cash + debt of a reserve, (N,): what its rate curve reads."""
        cash, debt = self.reserve_usage(symbol)
        return np.where(debt > 0, debt / np.maximum(cash + debt, 1.0), 0.0)

    # --- the crowd --------------------------------------------------------------------------
    def _crowd(self) -> LendingCalibration | None:
        """The calibration the crowd follows; none on a market attached to a real chain's own borrowers."""
        return None if getattr(self, "book", None) is not None else self.lending.calibrated()

    def reset_crowd(self, rng: np.random.Generator) -> None:
        """Start each calibrated reserve's demand on its fitted process, post the crowd's collateral, borrow."""
        calibration = self._crowd()
        if calibration is None:
            return
        self._crowd_rng = rng.spawn(1)[0]  # a stream of its own: the market's draws stay as they were
        self._crowd_rate = {s: r.demand.start(self._crowd_rng, self.n) for s, r in calibration.reserves.items()}
        wbtc = np.floor(CROWD_COLLATERAL * self.lending.supply_usd / WBTC_PRICE_USD * WBTC_UNIT)
        self._crowd_act("supply", "WBTC", np.full(self.n, wbtc), np.ones(self.n, bool))
        self.crowd_hold()

    def crowd_hold(self, seconds: float = 0.0) -> None:
        """Move the rate each calibrated reserve's borrowers will pay ``seconds`` along its process, then
        borrow or repay so the reserve sits at the utilization where its curve charges that rate (a borrow
        or a repay leaves cash + debt as it is)."""
        calibration = self._crowd()
        if calibration is None:
            return
        for symbol, reserve in calibration.reserves.items():
            if seconds > 0:
                self._crowd_rate[symbol] = reserve.demand.advance(self._crowd_rate[symbol], seconds, self._crowd_rng)
            cash, debt = self.reserve_usage(symbol)
            gap = np.floor(reserve.curve.utilization_at(self._crowd_rate[symbol]) * (cash + debt) - debt)
            lend, repay = gap > 0, gap < 0
            if lend.any() or repay.any():
                self._crowd_rebalance(symbol, np.where(lend, gap, 0.0), lend, np.where(repay, -gap, 0.0), repay)

    def _crowd_rebalance(
        self, symbol: str, borrow_raw: np.ndarray, lend: np.ndarray, repay_raw: np.ndarray, repay: np.ndarray
    ) -> None:
        """The crowd borrows ``borrow_raw`` of ``symbol`` where ``lend``, then repays ``repay_raw`` where ``repay``
        (disjoint worlds); a backend that does both in one action overrides this."""
        if lend.any():
            self._crowd_act("borrow", symbol, borrow_raw, lend)
        if repay.any():
            self._crowd_act("repay", symbol, repay_raw, repay)

    def account_positions(self) -> Position:
        """The borrower agent's and the scripted borrowers' positions, (N, 1 + K) each, the agent's first;
        a backend that reads them all at once overrides this."""
        read = [self.position(i) for i in range(self.lending.borrowers + 1)]
        return Position(*(np.stack([getattr(p, f.name) for p in read], axis=1) for f in fields(Position)))

    def liquidatable(self) -> tuple[np.ndarray, np.ndarray]:
        """(health factors, debts in base units) of every Aave account, the borrower agent's first, (N, 1 + K)."""
        every = self.account_positions()
        return every.health_factor, every.debt_base

    def liquidate_and_sell(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Liquidate ``account`` and sell the seized WETH into the pool: (profit in USDC raw, liquidated?)."""
        repaid, seized, code = self.liquidate(who, account, mask)
        done = mask & (code == 0) & (seized > 0)
        _, got = self.swap(who, np.zeros(self.n, bool), np.where(done, seized, 0.0), done)
        return np.where(done, got - repaid, 0.0), done

    def liquidate_unhealthy(self, who: str, mask: np.ndarray | None = None) -> np.ndarray:
        """The greedy liquidator: every account below a health factor of 1, the agent's included, in
        account order. Returns how many it liquidated per world."""
        mask = np.ones(self.n, bool) if mask is None else mask
        count = np.zeros(self.n)
        if not mask.any():
            return count
        for account in range(self.lending.borrowers + 1):
            unhealthy = mask & (self.position(account).health_factor < 1)
            if unhealthy.any():
                _, done = self.liquidate_and_sell(who, account, unhealthy)
                count += done
        return count
