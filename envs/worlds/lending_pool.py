"""A lending pool as a component of a world: one interface over N worlds for a market that lends USDC against
WETH collateral, whatever the protocol (Aave V3: ``sim_aave_pool``, ``chain_aave_pool``; Morpho Blue:
``morpho_blue_market``) and whatever the backend (the simulator's batched arrays, or the real contracts on a
chain). A world's lending side (``envs.worlds.lending.LendingMarket``, the live adapter's included) holds one and
writes the borrowers, the crowd and the liquidators on it.

Accounts are numbered: 0 is the borrower agent, 1..K the scripted borrowers, K + 1 the crowd. A liquidator is a
wallet name (``WALLETS``), the chain side resolving it to an address. Amounts are raw token units, (N,) float64;
``Position`` values are in USD with 8 decimals (Aave's oracle base currency), whatever the protocol's own unit."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from envs.assets import aave_reserve_params
from envs.contracts.tokens import Token
from envs.evm.chain import Chain, TransactionReverted
from envs.protocols.aave_v3.liquidation_logic import CLOSE_FACTOR_HF_THRESHOLD, DEFAULT_LIQUIDATION_CLOSE_FACTOR
from envs.units import BPS
from envs.worlds.block_accounting import LendingBalances

AGENT_ACCOUNT = 0
#: the wallets that swap and liquidate: the LP agent's, the borrower agent's (account 0), the
#: learning liquidator's and the scripted competitor's
AGENT, BORROWER, AGENT_LIQUIDATOR, COMPETITOR = "agent", "borrower", "agent_liquidator", "competitor"
WALLETS = (AGENT, BORROWER, AGENT_LIQUIDATOR, COMPETITOR)


def seized_terms(
    every: Position, cover: np.ndarray, incentive: float, treasury_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """(debt repaid, the liquidator's bonus), USD with 8 decimals, of liquidating ``cover`` of each position's
    debt at collateral worth ``incentive`` times it, no more than the collateral there is (then the debt repaid
    shrinks to what it buys); ``treasury_share`` of the bonus goes to the protocol instead."""
    seized = np.minimum(cover * incentive, every.collateral_base)
    repaid = seized / incentive
    return repaid, (seized - repaid) * (1 - treasury_share)


def aave_liquidation_terms(every: Position) -> tuple[np.ndarray, np.ndarray]:
    """Aave V3 LiquidationLogic on WETH collateral: half the debt while the health factor is above 0.95, all of
    it below; the collateral seized carries the reserve's liquidation bonus, of which the protocol takes its
    liquidation protocol fee."""
    weth = aave_reserve_params()["WETH"]
    close = np.where(every.health_factor > CLOSE_FACTOR_HF_THRESHOLD / BPS, DEFAULT_LIQUIDATION_CLOSE_FACTOR / BPS, 1.0)
    return seized_terms(
        every, every.debt_base * close, weth.liquidation_bonus / BPS, weth.liquidation_protocol_fee / BPS
    )


#: Aave V3's Pool calls, as the gas table names them
AAVE_GAS = {
    "supply": "aave_supply",
    "withdraw": "aave_withdraw",
    "borrow": "aave_borrow",
    "repay": "aave_repay",
    "liquidation_call": "aave_liquidation_call",
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


#: gives an address ``raw`` more of a token: minted, or written by storage on a fork (``ChainSite.credit``)
Credit = Callable[[Token, str, int], None]


def borrower_address(account: int) -> str:
    """Scripted borrower (or crowd) ``account`` on a chain: a fixed address the node lets the world send from."""
    return f"0x{0xB0770E5 << 100 | account:040x}"


class ChainAccounts:
    """A lending pool's chain side, whatever the protocol: account 0 is ``borrower``'s address, the scripted
    accounts ``borrower_address(account)``; ``wallet`` resolves a liquidator's wallet name; ``credit`` funds the
    scripted accounts (None: a chain the world may not fund, the live one)."""

    n = 1

    def __init__(self, chain: Chain, borrower: str, wallet: Callable[[str], str], credit: Credit | None):
        self.chain, self.borrower, self.wallet, self.credit = chain, borrower, wallet, credit
        self._clock = chain.timestamp()

    def reset(self, usd_per_weth: np.ndarray) -> None:
        """The clock starts at the chain's time; the pool and its oracle are as the market was built or attached
        (an episode reverts the chain to them)."""
        self._clock = self.chain.timestamp()

    def advance(self, seconds: float) -> None:
        """The chain's clock moves ``seconds`` (the simulator's step is one moment; the chain's next transactions
        land in its next blocks); a chain already there (moved by another lending side of the world) stays."""
        self._clock += int(seconds)
        if (gap := self._clock - self.chain.timestamp()) > 0:
            self.chain.advance_time(gap)

    def address(self, account: int) -> str:
        return self.borrower if account == 0 else borrower_address(account)

    def _fundable(self) -> Credit:
        """The credit function, or a refusal where the world may not fund accounts."""
        if self.credit is None:
            raise RuntimeError("this chain's accounts are funded by their owners: only a world of our own funds them")
        return self.credit


def transaction_codes(action: Callable[[], object], error_code: Callable[[TransactionReverted], int]) -> np.ndarray:
    """A chain side's action in one world: [0] when its transaction lands, [the protocol's code] when it reverts."""
    try:
        action()
        return np.zeros(1, np.int64)
    except TransactionReverted as err:
        return np.array([error_code(err)])


@dataclass
class Position:
    """A lending account, (N,) each: WETH supplied and USDC owed (raw); collateral and debt in base
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


class LendingPool(ABC):
    """A market lending USDC against WETH in N worlds: the reads and actions every protocol and backend give the
    same way. Actions return the protocol's error codes (0 on success) where its contract would revert."""

    n: int
    #: the measured gas (``envs/assets/gas_costs.json``) of each action: supply, withdraw, borrow, repay,
    #: liquidation_call
    GAS: dict[str, str]

    @abstractmethod
    def reset(self, usd_per_weth: np.ndarray) -> None:
        """An episode starts: the pool at its start and its clock with it. The simulator's pool is laid anew, its
        oracle at ``usd_per_weth``; a chain's is the built or attached market the episode reverted to."""

    @abstractmethod
    def advance(self, seconds: float) -> None:
        """The pool's clock moves ``seconds``: interest accrues at the next action or read."""

    @abstractmethod
    def oracle_price(self) -> np.ndarray:
        """USD per WETH as the pool's oracle reports it."""

    @abstractmethod
    def set_oracle_price(self, usd_per_weth: np.ndarray) -> None:
        """Point WETH's oracle price at ``usd_per_weth`` (rounded to the oracle's 8 decimals)."""

    @abstractmethod
    def position(self, account: int) -> Position: ...

    def positions(self, accounts: int) -> Position:
        """Accounts 0..``accounts`` - 1, (N, accounts) each; a backend that reads them all at once overrides this."""
        read = [self.position(i) for i in range(accounts)]
        return Position(*(np.stack([getattr(p, f.name) for p in read], axis=1) for f in fields(Position)))

    @abstractmethod
    def supply(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Supply WETH as collateral from the account's wallet; returns error codes."""

    @abstractmethod
    def withdraw(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Withdraw ``weth_raw`` (inf: all) of WETH collateral to the account's wallet; returns (withdrawn, codes)."""

    @abstractmethod
    def borrow(self, account: int, usdc_raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Borrow USDC at the variable rate into the account's wallet; returns error codes."""

    @abstractmethod
    def repay(self, account: int, usdc_raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Repay up to ``usdc_raw`` (inf: all) of the USDC debt; returns (repaid, codes)."""

    @abstractmethod
    def liquidation_call(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Wallet ``who`` liquidates as much of ``account``'s USDC debt as the close factor allows, taking WETH;
        returns (USDC repaid, WETH received, codes)."""

    @abstractmethod
    def lending_balances(self, who: str, account: int) -> LendingBalances:
        """The balances a liquidation of ``account`` by ``who`` moves, as the protocol holds them, and the
        oracle's prices (``envs.worlds.block_accounting``)."""

    @abstractmethod
    def liquidation_terms(self, every: Position) -> tuple[np.ndarray, np.ndarray]:
        """(the debt a liquidator may repay, the bonus it earns doing so), USD with 8 decimals, at each of
        ``every``'s positions (any shape), as the protocol's liquidation would give them."""

    @abstractmethod
    def reserve_usage(self, symbol: str) -> tuple[np.ndarray, np.ndarray]:
        """(cash the reserve holds, its total variable debt), raw, (N,): utilization = debt / (cash + debt)."""

    @abstractmethod
    def fund_account(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> None:
        """Give a scripted borrower the WETH it is about to supply (minted on a chain; the simulator keeps no
        wallet of theirs: they bring it from outside the market)."""

    @abstractmethod
    def crowd_act(self, account: int, action: str, symbol: str, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The crowd's ``account`` supplies, borrows or repays ``raw`` of ``symbol``, bringing what it supplies and
        repays from outside the market; returns error codes."""

    def crowd_rebalance(
        self,
        account: int,
        symbol: str,
        borrow_raw: np.ndarray,
        lend: np.ndarray,
        repay_raw: np.ndarray,
        repay: np.ndarray,
    ) -> None:
        """The crowd borrows ``borrow_raw`` of ``symbol`` where ``lend``, then repays ``repay_raw`` where ``repay``
        (disjoint worlds); a backend that does both in one action overrides this."""
        if lend.any():
            self.crowd_act(account, "borrow", symbol, borrow_raw, lend)
        if repay.any():
            self.crowd_act(account, "repay", symbol, repay_raw, repay)
