"""The Aave pool component on a chain: one world (n = 1) through the real Pool, AaveOracle and protocol data
provider of a market built on the chain or already there (a fork, the live chain). The world that holds it says
which address each account and wallet is and how tokens are credited (minted, written by storage, or not at all
on a live chain)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.contracts.aave_v3 import MAX_UINT256, AaveV3, error_code
from envs.contracts.contract import Contract
from envs.contracts.tokens import Token
from envs.evm.chain import GAS_ETH, TransactionReverted
from envs.units import BASE_UNIT, BPS, WAD
from envs.worlds.block_accounting import LendingBalances
from envs.worlds.lending_pool import (
    AAVE_GAS,
    ChainAccounts,
    Credit,
    LendingPool,
    Position,
    aave_liquidation_terms,
    transaction_codes,
)


class ChainAavePool(ChainAccounts, LendingPool):
    """``aave`` over ``tokens`` (USDC, WETH, WBTC), with the accounts ``ChainAccounts`` names."""

    GAS = AAVE_GAS

    def __init__(
        self,
        aave: AaveV3,
        tokens: dict[str, Token],
        borrower: str,
        wallet: Callable[[str], str],
        credit: Credit | None = None,
    ):
        super().__init__(aave.chain, borrower, wallet, credit)
        self.aave, self.tokens = aave, tokens
        self.usdc, self.weth = tokens["USDC"], tokens["WETH"]

    def _credit(self, token: Token, who: str, raw: int) -> None:
        self._fundable()(token, who, raw)

    # --- reads ------------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return np.array([self.aave.price(self.weth) / BASE_UNIT])

    def set_oracle_price(self, usd_per_weth: np.ndarray) -> None:
        self.aave.set_price("WETH", round(float(usd_per_weth[0]) * BASE_UNIT))

    def position(self, account: int) -> Position:
        who = self.address(account)
        data = self.aave.user_account_data(who)
        supplied = self.aave.user_reserve_data(self.weth, who)["current_atoken_balance"]
        owed = self.aave.user_reserve_data(self.usdc, who)["current_variable_debt"]
        hf = np.inf if data["health_factor"] == MAX_UINT256 else data["health_factor"] / WAD
        return Position(
            np.array([float(supplied)]),
            np.array([float(owed)]),
            np.array([float(data["total_collateral_base"])]),
            np.array([float(data["total_debt_base"])]),
            np.array([data["current_liquidation_threshold"] / BPS]),
            np.array([data["ltv"] / BPS]),
            np.array([hf]),
        )

    def lending_balances(self, who, account):
        """The borrower's aWETH and debt from the protocol data provider, the liquidator's wallet, and the
        aWETH of the treasury the aToken names (RESERVE_TREASURY_ADDRESS), as exact integers; prices from
        the AaveOracle."""
        data, wallet, borrower = self.aave.data_provider, self.wallet(who), self.address(account)
        a_weth = Contract(self.aave.chain, data.call("getReserveTokensAddresses", self.weth.address)[0], "AToken")

        def exact(raw: int) -> np.ndarray:
            return np.array([raw], dtype=object)

        return LendingBalances(
            exact(self.aave.user_reserve_data(self.weth, borrower)["current_atoken_balance"]),
            exact(self.aave.user_reserve_data(self.usdc, borrower)["current_variable_debt"]),
            exact(self.usdc.balance_of(wallet)),
            exact(self.weth.balance_of(wallet)),
            exact(a_weth.call("balanceOf", a_weth.call("RESERVE_TREASURY_ADDRESS"))),
            np.array([self.aave.price(self.usdc) / BASE_UNIT]),
            self.oracle_price(),
            exact(0),  # Aave writes no debt off against its lenders
        )

    def liquidation_terms(self, every):
        return aave_liquidation_terms(every)

    def reserve_usage(self, symbol):
        cash, debt = self.aave.reserve_usage(self.tokens[symbol])
        return np.array([float(cash)]), np.array([float(debt)])

    # --- actions ----------------------------------------------------------------------------
    def supply(self, account, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        who = self.address(account)
        amount = min(int(weth_raw[0]), self.weth.balance_of(who))  # a float64 amount of wei can round past it
        return transaction_codes(
            lambda: self.aave.pool.transact("supply", self.weth.address, amount, who, 0, sender=who), error_code
        )

    def withdraw(self, account, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1, np.int64)
        who = self.address(account)
        before = self.weth.balance_of(who)
        amount = MAX_UINT256 if np.isinf(weth_raw[0]) else int(weth_raw[0])  # type(uint256).max: everything
        code = transaction_codes(lambda: self.aave.withdraw(who, self.weth, amount), error_code)
        return np.array([float(self.weth.balance_of(who) - before)]), code

    def borrow(self, account, usdc_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        return transaction_codes(
            lambda: self.aave.borrow(self.address(account), self.usdc, int(usdc_raw[0])), error_code
        )

    def repay(self, account, usdc_raw, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1, np.int64)
        who = self.address(account)
        before = self.usdc.balance_of(who)
        amount = MAX_UINT256 if np.isinf(usdc_raw[0]) else int(usdc_raw[0])
        code = transaction_codes(
            lambda: self.aave.pool.transact("repay", self.usdc.address, amount, 2, who, sender=who), error_code
        )
        return np.array([float(before - self.usdc.balance_of(who))]), code

    def liquidation_call(self, who, account, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1), np.zeros(1, np.int64)
        try:
            result = self.aave.pool.transact(
                "liquidationCall",
                self.weth.address,
                self.usdc.address,
                self.address(account),
                MAX_UINT256,
                False,
                sender=self.wallet(who),
            )
        except TransactionReverted as err:
            return np.zeros(1), np.zeros(1), np.array([error_code(err)])
        (event,) = self.aave.pool.events(result, "LiquidationCall")
        return (
            np.array([float(event["debtToCover"])]),
            np.array([float(event["liquidatedCollateralAmount"])]),
            np.zeros(1, np.int64),
        )

    def fund_account(self, account, weth_raw, mask):
        self._fundable()
        if mask[0]:
            who = self.address(account)
            self.aave.chain.set_balance(who, GAS_ETH)
            self._credit(self.weth, who, int(weth_raw[0]))
            self.weth.approve(who, self.aave.pool.address)

    def crowd_act(self, account, action, symbol, raw, mask):
        """The crowd's collateral and what it repays are credited to it first."""
        self._fundable()
        if not mask[0]:
            return np.zeros(1, np.int64)
        who, token, amount = self.address(account), self.tokens[symbol], int(raw[0])
        if action == "supply":
            self.aave.chain.set_balance(who, GAS_ETH)
            for t in self.tokens.values():
                t.approve(who, self.aave.pool.address)
            self._credit(token, who, amount)
            return transaction_codes(
                lambda: self.aave.pool.transact("supply", token.address, amount, who, 0, sender=who), error_code
            )
        if action == "borrow":
            return transaction_codes(lambda: self.aave.borrow(who, token, amount), error_code)
        self._credit(token, who, amount)
        return transaction_codes(
            lambda: self.aave.pool.transact("repay", token.address, amount, 2, who, sender=who), error_code
        )
