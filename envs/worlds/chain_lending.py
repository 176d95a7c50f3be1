"""The Uniswap V3 + Aave V3 market on an EVM rung: the local market's real Pool, AaveOracle and
SwapRouter, driven as ``sim_lending`` drives the simulator (same price path, same borrowers, same
scripted liquidator), so the two can be compared step by step. The chain's clock moves ``dt`` a
step (each step starts at the simulator's time; its transactions then land in blocks of their own,
12 s apart)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.contracts.aave_v3 import MAX_UINT256, error_code
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.contract import Contract
from envs.contracts.oracle import control_price
from envs.drivers.base import PriceDriver
from envs.evm.chain import Chain, TransactionReverted
from envs.worlds.block_accounting import LendingBalances
from envs.worlds.chain_world import AGENT as AGENT_ADDRESS
from envs.worlds.chain_world import ARBITRAGEUR, ARBITRAGEUR_AGENT, GAS_ETH, ChainLP, ChainUniswapV3World
from envs.worlds.lending import (
    AGENT,
    AGENT_ACCOUNT,
    AGENT_LIQUIDATOR,
    BASE_UNIT,
    BORROWER,
    SWAP_GROUP,
    AaveMarket,
    LendingParams,
    Position,
    check_wallet,
)
from envs.worlds.sim import USDC_UNIT, WETH_UNIT, V3WorldParams

BORROWER_ADDRESS = DEV_ACCOUNTS[3]  # the borrower agent's account in the chain worlds


def one_moment_a_step(chain: Chain) -> None:
    """Mine a step's blocks at the step's timestamp, as the simulator's step is one moment: at the calibrated
    rates, interest over 12 s blocks would otherwise part the two by dollars a day on a levered position."""
    from envs.evm.anvil import AnvilChain
    from envs.evm.revm import PyrevmChain

    if isinstance(chain, PyrevmChain):
        chain.block_interval = 0
    elif isinstance(chain, AnvilChain):
        chain.rpc.request("anvil_setBlockTimestampInterval", [0])


def borrower_address(account: int) -> str:
    """Scripted borrower ``account`` (1..K): a fixed address the node lets the world send from."""
    return f"0x{0xB0770E5 << 100 | account:040x}"


class ChainLending(ChainLP, AaveMarket):
    """The Aave primitives through the real Pool, AaveOracle and SwapRouter, for the borrower agent
    (``self.borrower``) and the scripted accounts: shared by the chain world and the live adapter."""

    borrower: str

    def bind(self, market, fee_pips: int) -> None:
        super().bind(market, fee_pips)
        self.aave = market.aave

    def _address(self, account: int) -> str:
        return self.borrower if account == AGENT_ACCOUNT else borrower_address(account)

    def _wallet(self, who: str) -> str:
        """The chain account behind a wallet name: the scripted competitor and the traders share the
        scripted arbitrageur's account (their books are kept by their roles)."""
        check_wallet(who)
        return {AGENT: self.agent, BORROWER: self.borrower, AGENT_LIQUIDATOR: ARBITRAGEUR_AGENT}.get(who, ARBITRAGEUR)

    def borrower_wallet(self):
        return (
            np.array([self.usdc.balance_of(self.borrower) / USDC_UNIT]),
            np.array([self.weth.balance_of(self.borrower) / WETH_UNIT]),
        )

    def _code(self, action) -> int:
        try:
            action()
            return 0
        except TransactionReverted as err:
            return error_code(err)

    # --- primitives -------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return np.array([self.aave.price(self.weth) / BASE_UNIT])

    def position(self, account: int) -> Position:
        who = self._address(account)
        data = self.aave.user_account_data(who)
        supplied = self.aave.user_reserve_data(self.weth, who)["current_atoken_balance"]
        owed = self.aave.user_reserve_data(self.usdc, who)["current_variable_debt"]
        hf = np.inf if data["health_factor"] == MAX_UINT256 else data["health_factor"] / 1e18
        return Position(
            np.array([float(supplied)]),
            np.array([float(owed)]),
            np.array([float(data["total_collateral_base"])]),
            np.array([float(data["total_debt_base"])]),
            np.array([data["current_liquidation_threshold"] / 1e4]),
            np.array([data["ltv"] / 1e4]),
            np.array([hf]),
        )

    def supply(self, account, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        who = self._address(account)
        amount = int(weth_raw[0])
        if account == AGENT_ACCOUNT:  # a float64 amount of wei can round past what the wallet holds
            amount = min(amount, self.weth.balance_of(who))
        return np.array(
            [self._code(lambda: self.aave.pool.transact("supply", self.weth.address, amount, who, 0, sender=who))]
        )

    def withdraw(self, account, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        return np.array([self._code(lambda: self.aave.withdraw(self._address(account), self.weth, int(weth_raw[0])))])

    def borrow(self, account, usdc_raw, mask):
        if not mask[0]:
            return np.zeros(1, np.int64)
        return np.array([self._code(lambda: self.aave.borrow(self._address(account), self.usdc, int(usdc_raw[0])))])

    def repay(self, account, usdc_raw, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1, np.int64)
        who = self._address(account)
        before = self.usdc.balance_of(who)
        amount = MAX_UINT256 if np.isinf(usdc_raw[0]) else int(usdc_raw[0])
        code = self._code(lambda: self.aave.pool.transact("repay", self.usdc.address, amount, 2, who, sender=who))
        return np.array([float(before - self.usdc.balance_of(who))]), np.array([code])

    def _liquidation_call(self, who, account, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1), np.zeros(1, np.int64)
        try:
            result = self.aave.pool.transact(
                "liquidationCall",
                self.weth.address,
                self.usdc.address,
                self._address(account),
                MAX_UINT256,
                False,
                sender=self._wallet(who),
            )
        except TransactionReverted as err:
            return np.zeros(1), np.zeros(1), np.array([error_code(err)])
        (event,) = self.aave.pool.events(result, "LiquidationCall")
        return (
            np.array([float(event["debtToCover"])]),
            np.array([float(event["liquidatedCollateralAmount"])]),
            np.zeros(1, np.int64),
        )

    def lending_balances(self, who, account):
        """The borrower's aWETH and debt from the protocol data provider, the liquidator's wallet, and the
        aWETH of the treasury the aToken names (RESERVE_TREASURY_ADDRESS), as exact integers; prices from
        the AaveOracle."""
        data, wallet, borrower = self.aave.data_provider, self._wallet(who), self._address(account)
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
        )

    def swap(self, who, sell_usdc, raw, mask):
        if not mask[0] or raw[0] <= 0:
            return np.zeros(1), np.zeros(1)
        got, event = self._recorded_swap(SWAP_GROUP[who], self._wallet(who), bool(sell_usdc[0]), int(raw[0]), 0)
        paid = event["amount0"] if sell_usdc[0] else event["amount1"]
        return np.array([float(paid)]), np.array([float(got)])

    def _fund_scripted_borrower(self, account, weth_raw, mask):
        raise RuntimeError("only a simulated world funds scripted borrowers")

    def reserve_usage(self, symbol):
        cash, debt = self.aave.reserve_usage(self.market.tokens[symbol])
        return np.array([float(cash)]), np.array([float(debt)])

    def _crowd_act(self, action, symbol, raw, mask):
        raise RuntimeError("only a simulated world moves the crowd")

    def fund_borrower(self, weth_raw):
        raise RuntimeError("only a simulated world funds the borrower agent")


class ChainAaveWorld(ChainUniswapV3World, ChainLending):
    """With ``book`` (attach mode) the world runs on the Aave market and USDC/WETH pool a fork already
    holds: WETH's oracle source is pointed at a controllable aggregator by the impersonated ACL admin
    (``envs.contracts.oracle``), which then follows the reference price; accounts are funded by storage."""

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        lending: LendingParams = LendingParams(),
        book: dict | None = None,
    ):
        super().__init__(make_chain, driver, params, book)
        self.lending, self.borrower = lending, BORROWER_ADDRESS
        self.aave_supply_usd = lending.supply_usd  # what build_market seeds each reserve with
        if book is None and lending.calibrated() is not None:
            one_moment_a_step(self.chain)

    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        super().reset(rng, agent_usd)
        self._clock = self.chain.timestamp()
        self.reset_borrowers(rng)

    def _fund_traders(self) -> None:
        """Also let the agents and the competitor deal with the Aave pool (once per build: the
        approvals are in the snapshot every episode starts from)."""
        super()._fund_traders()
        m = self.market
        if self.book is not None:  # the real feed cannot be moved: WETH's source becomes one that can
            control_price(m.aave, m.tokens["WETH"], round(self._anchor * BASE_UNIT))
        elif (calibration := self.lending.calibrated()) is not None:  # the built market takes the fitted rate curves
            params = self.lending.reserve_params()
            for symbol in calibration.reserves:
                m.aave.set_rate_curve(m.tokens[symbol], params[symbol])
        lp_agent = [AGENT_ADDRESS] if self.params.lps else []  # the LP agent's wallet, where the world has one
        for token in (m.tokens["USDC"], m.tokens["WETH"]):
            for who in lp_agent + [ARBITRAGEUR, ARBITRAGEUR_AGENT, self.borrower]:
                token.approve(who, m.aave.pool.address)
            token.approve(self.borrower, m.v3.router.address)

    def fund_borrower(self, weth_raw):
        self._credit(self.weth, self.borrower, int(weth_raw[0]))

    def _wallet(self, who: str) -> str:
        """As ``ChainLending._wallet``; the LP agent's only where the world has one."""
        check_wallet(who, self.params.lps)
        return super()._wallet(who)

    def move_reference(self) -> None:
        super().move_reference()
        self._clock += int(self.dt)
        self.chain.advance_time(max(0, self._clock - self.chain.timestamp()))
        self.aave.set_price("WETH", round(float(self._reference[0]) * BASE_UNIT))

    def _crowd_act(self, action, symbol, raw, mask):
        """The crowd brings its collateral and what it repays from outside the market (minted)."""
        if not mask[0]:
            return np.zeros(1, np.int64)
        who, token, amount = borrower_address(self.lending.borrowers + 1), self.market.tokens[symbol], int(raw[0])
        if action == "supply":
            self.chain.set_balance(who, GAS_ETH)
            for t in self.market.tokens.values():
                t.approve(who, self.aave.pool.address)
            self._credit(token, who, amount)
            return np.array(
                [self._code(lambda: self.aave.pool.transact("supply", token.address, amount, who, 0, sender=who))]
            )
        if action == "borrow":
            return np.array([self._code(lambda: self.aave.borrow(who, token, amount))])
        self._credit(token, who, amount)
        return np.array(
            [self._code(lambda: self.aave.pool.transact("repay", token.address, amount, 2, who, sender=who))]
        )

    def _fund_scripted_borrower(self, account, weth_raw, mask):
        if mask[0]:
            who = self._address(account)
            self.chain.set_balance(who, GAS_ETH)
            self._credit(self.weth, who, int(weth_raw[0]))
            self.weth.approve(who, self.aave.pool.address)
