"""The one interface the Aave roles use, whatever the backend: a USDC/WETH Uniswap V3 market (as in
``market.py``) plus an Aave V3 market whose oracle follows the reference price, scripted borrowers
who keep a target LTV, and a scripted liquidator who sells what it seizes into the pool.

Aave account 0 is the borrower agent, with a wallet of its own (apart from the LP's); accounts
1..K are the scripted borrowers. Every account supplies WETH and borrows USDC. Amounts are raw token units, (N,) float64;
``Position`` values are in the oracle's base currency (USD, 8 decimals) as Aave reports them.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from envs.worlds.market import UniswapV3Market
from envs.worlds.sim import USDC_UNIT, WETH_UNIT

AGENT_ACCOUNT = 0
BASE_UNIT = 1e8  # Aave's oracle quotes USD with 8 decimals
#: the wallets that swap and liquidate: the LP agent's, the borrower agent's (Aave account 0), the
#: learning liquidator's, and the scripted competitor's
AGENT, BORROWER, AGENT_LIQUIDATOR, COMPETITOR = "agent", "borrower", "agent_liquidator", "competitor"


@dataclass(frozen=True)
class LendingParams:
    """The scripted borrowers: each supplies a lognormal amount of WETH (median ``borrower_usd``),
    borrows USDC to a target LTV drawn from ``target_ltv``, and borrows back up to it whenever a
    rising price leaves it ``relever_band`` below target. A liquidated-out borrower opens anew."""

    borrowers: int = 8
    borrower_usd: float = 200_000.0
    target_ltv: tuple[float, float] = (0.70, 0.80)
    relever_band: float = 0.05
    supply_usd: float = 50_000_000.0  # seeded into each Aave reserve, as the local mainnet does

    def __post_init__(self):
        low, high = self.target_ltv
        if self.borrowers < 0 or self.borrower_usd <= 0 or self.supply_usd <= 0:
            raise ValueError("borrowers must be >= 0; borrower_usd and supply_usd positive")
        if not 0 < low <= high < 1:
            raise ValueError(f"target_ltv must be a range within (0, 1), got {self.target_ltv}")


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
        return np.where(self.collateral_base > 0, self.debt_base / np.maximum(self.collateral_base, 1.0),
                        np.where(self.debt_base > 0, np.inf, 0.0))


class AaveMarket(UniswapV3Market):
    """The primitives below are backend-specific; the scripted borrowers and liquidator are written
    once on top of them, so every backend runs the same behaviour."""

    lending: LendingParams

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

    @abstractmethod
    def liquidate(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``who`` liquidates as much of ``account``'s USDC debt as the close factor allows, taking WETH;
        returns (USDC repaid, WETH received, codes)."""

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
        self.liquidate_unhealthy(COMPETITOR)
        self.borrowers_act()

    def reset_borrowers(self, rng: np.random.Generator) -> None:
        """Draw the scripted borrowers' sizes and targets, and open their positions."""
        p, k = self.lending, self.lending.borrowers
        self._borrower_usd = p.borrower_usd * np.exp(0.5 * rng.standard_normal((self.n, k)))
        self._borrower_target = rng.uniform(*p.target_ltv, size=(self.n, k))
        self.borrowers_act()

    def borrowers_act(self) -> None:
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

    def liquidatable(self) -> tuple[np.ndarray, np.ndarray]:
        """(health factors, debts in base units) of every Aave account, the borrower agent's first, (N, 1 + K)."""
        positions = [self.position(i) for i in range(self.lending.borrowers + 1)]
        return (np.stack([p.health_factor for p in positions], axis=1),
                np.stack([p.debt_base for p in positions], axis=1))

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
