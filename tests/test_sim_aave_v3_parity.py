"""The batched Aave V3 simulator agrees with the real Pool bytecode (pyrevm), action by action."""

from __future__ import annotations

import numpy as np
import pytest

from envs.contracts.aave_v3 import error_code
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market, build_market
from envs.contracts.state_reader import aave_state, read_aave_market
from envs.evm.chain import TransactionReverted
from envs.evm.revm import PyrevmChain
from envs.protocols.aave_v3 import pool as aave
from tests.parity import assert_close

USERS = DEV_ACCOUNTS[4:7]
LIQUIDATOR = DEV_ACCOUNTS[8]
MAX_UINT256 = 2**256 - 1
ONE = np.array([True])


@pytest.fixture(scope="module")
def chain_market() -> Market:
    return build_market(PyrevmChain())


class Twin:
    """The Aave market on chain and in the simulator (one world), driven together."""

    def __init__(self, market: Market):
        self.m, self.chain = market, market.chain
        reserves, prices, _ = read_aave_market(market.aave, market.tokens)
        self.params, self.state = aave_state(reserves, np, 1, len(USERS))
        self.symbols = self.params.symbols
        self.tokens = [market.tokens[s] for s in self.symbols]
        self.prices = np.array([[float(prices[s]) for s in self.symbols]])

    def now(self):
        return np.array([float(self.chain.timestamp())])

    def dust(self, r: int | None = None) -> float:
        """Two raw units of the coarsest token (a WBTC satoshi is worth ~5e4 base units), in base
        units or in token ``r``: amounts coupled through oracle prices inherit that rounding."""
        decimals = np.array([t.decimals for t in self.tokens], dtype=float)
        base = 2 * float(np.max(self.prices[0] / 10**decimals))
        return base if r is None else max(2.0, base / self.prices[0, r] * 10 ** self.tokens[r].decimals)

    def _chain(self, action) -> int:
        try:
            action()
            return 0
        except TransactionReverted as err:
            return error_code(err)

    def supply(self, user: int, r: int, raw: int) -> None:
        token = self.tokens[r]
        token.mint(USERS[user], raw)
        token.approve(USERS[user], self.m.aave.pool.address)
        code = self._chain(
            lambda: self.m.aave.pool.transact("supply", token.address, raw, USERS[user], 0, sender=USERS[user])
        )
        sim = aave.supply(self.state, self.params, user, r, np.array([float(raw)]), self.now(), ONE)
        assert int(sim[0]) == code

    def borrow(self, user: int, r: int, raw: int) -> None:
        code = self._chain(lambda: self.m.aave.borrow(USERS[user], self.tokens[r], raw))
        sim = aave.borrow(self.state, self.params, self.prices, user, r, np.array([float(raw)]), self.now(), ONE)
        assert int(sim[0]) == code, f"borrow: simulator code {int(sim[0])}, chain {code}"

    def repay(self, user: int, r: int, raw: int | None) -> None:
        token = self.tokens[r]
        token.mint(USERS[user], raw or 10 ** (token.decimals + 9))  # enough for any debt here
        code = self._chain(lambda: self.m.aave.repay(USERS[user], token, MAX_UINT256 if raw is None else raw))
        _, sim = aave.repay(
            self.state, self.params, user, r, np.array([np.inf if raw is None else float(raw)]), self.now(), ONE
        )
        assert int(sim[0]) == code

    def withdraw(self, user: int, r: int, raw: int | None) -> None:
        code = self._chain(
            lambda: self.m.aave.withdraw(USERS[user], self.tokens[r], MAX_UINT256 if raw is None else raw)
        )
        _, sim = aave.withdraw(
            self.state,
            self.params,
            self.prices,
            user,
            r,
            np.array([np.inf if raw is None else float(raw)]),
            self.now(),
            ONE,
        )
        assert int(sim[0]) == code, f"withdraw: simulator code {int(sim[0])}, chain {code}"

    def move_price(self, r: int, factor: float) -> None:
        price = int(self.prices[0, r] * factor)
        self.m.aave.set_price(self.symbols[r], price)
        self.prices[0, r] = price

    def advance(self, seconds: int) -> None:
        self.chain.advance_time(seconds)

    def liquidate(self, user: int, collateral: int, debt: int, debt_to_cover: int | None) -> None:
        debt_token = self.tokens[debt]
        debt_token.mint(LIQUIDATOR, 10 ** (debt_token.decimals + 9))
        cover = MAX_UINT256 if debt_to_cover is None else debt_to_cover
        event = None

        def act():
            nonlocal event
            event = self.m.aave.liquidation_call(LIQUIDATOR, self.tokens[collateral], debt_token, USERS[user], cover)

        code = self._chain(act)
        result = aave.liquidation_call(
            self.state,
            self.params,
            self.prices,
            user,
            collateral,
            debt,
            np.array([np.inf if debt_to_cover is None else float(debt_to_cover)]),
            self.now(),
            ONE,
        )
        assert int(result.error[0]) == code, f"liquidation: simulator code {int(result.error[0])}, chain {code}"
        if code == 0:
            assert_close("debt repaid", result.debt_repaid[0], event["debtToCover"], units=self.dust(debt))
            assert_close(
                "collateral seized",
                result.collateral_to_liquidator[0],
                event["liquidatedCollateralAmount"],
                units=self.dust(collateral),
            )

    def check(self) -> None:
        now = self.now()
        supplied, debts = zip(*(aave.balances(self.state, u, now) for u in range(len(USERS))))
        for u, user in enumerate(USERS):
            for r, token in enumerate(self.tokens):
                chain = self.m.aave.user_reserve_data(token, user)
                assert_close(
                    f"aToken {self.symbols[r]} of user {u}",
                    supplied[u][0, r],
                    chain["current_atoken_balance"],
                    units=self.dust(r),
                )
                assert_close(
                    f"debt {self.symbols[r]} of user {u}",
                    debts[u][0, r],
                    chain["current_variable_debt"],
                    units=self.dust(r),
                )
            data = aave.account_data(self.state, self.params, self.prices, u, now)
            chain = self.m.aave.user_account_data(user)
            dust = len(self.tokens) * self.dust()
            assert_close("collateral (base)", data.total_collateral_base[0], chain["total_collateral_base"], units=dust)
            assert_close("debt (base)", data.total_debt_base[0], chain["total_debt_base"], units=dust)
            if chain["total_debt_base"] > 0:
                smallest = max(min(chain["total_collateral_base"], chain["total_debt_base"]), 1)
                assert_close(
                    "health factor",
                    data.health_factor[0],
                    chain["health_factor"] / 1e18,
                    rel=1e-9 + 2 * dust / smallest,
                    units=0,
                )
        for r, token in enumerate(self.tokens):
            chain = self.m.aave.reserve_data(token)
            assert_close(
                "liquidity index", self.state.liquidity_index[0, r] * 1e27, chain["liquidity_index"], units=1e9
            )
            assert_close(
                "borrow index", self.state.variable_borrow_index[0, r] * 1e27, chain["variable_borrow_index"], units=1e9
            )
            assert_close("liquidity rate", self.state.liquidity_rate[0, r] * 1e27, chain["liquidity_rate"], units=1e9)
            assert_close(
                "borrow rate", self.state.variable_borrow_rate[0, r] * 1e27, chain["variable_borrow_rate"], units=1e9
            )


def _raw_for_usd(twin: Twin, r: int, usd: float) -> int:
    return int(usd / (twin.prices[0, r] / 1e8) * 10 ** twin.tokens[r].decimals)


@pytest.mark.parametrize("seed", range(12))
def test_random_lending_stories_agree_with_the_pool(chain_market: Market, seed):
    snap = chain_market.chain.snapshot()
    try:
        twin, rng = Twin(chain_market), np.random.default_rng(seed)
        usdc, weth, wbtc = (twin.symbols.index(s) for s in ("USDC", "WETH", "WBTC"))
        for u in range(len(USERS)):
            collateral = int(rng.choice([weth, wbtc]))
            twin.supply(u, collateral, _raw_for_usd(twin, collateral, rng.uniform(5e3, 5e6)))
            twin.check()
            limit_usd = twin.m.aave.user_account_data(USERS[u])["available_borrows_base"] / 1e8
            borrowed = int(rng.choice([usdc, weth if collateral == wbtc else usdc]))
            twin.borrow(u, borrowed, _raw_for_usd(twin, borrowed, limit_usd * rng.uniform(0.5, 0.999)))
            twin.check()
        twin.borrow(0, usdc, _raw_for_usd(twin, usdc, 1e9))  # beyond the collateral: refused
        for _ in range(8):
            action = rng.choice(["time", "price", "repay", "withdraw", "supply"])
            u = int(rng.integers(len(USERS)))
            if action == "time":
                twin.advance(int(rng.uniform(3600, 90 * 86400)))
            elif action == "price":
                twin.move_price(int(rng.choice([weth, wbtc])), float(rng.uniform(0.8, 1.1)))
            elif action == "repay":
                twin.repay(u, usdc, int(rng.choice([0, 1])) and None or _raw_for_usd(twin, usdc, rng.uniform(10, 1e4)))
            elif action == "withdraw":
                twin.withdraw(u, int(rng.choice([weth, wbtc])), _raw_for_usd(twin, weth, rng.uniform(1, 1e3)))
            else:
                twin.supply(u, usdc, _raw_for_usd(twin, usdc, rng.uniform(1e2, 1e5)))
            twin.check()
        # crash collateral so accounts go under, at both close factors, and liquidate them
        twin.move_price(weth, 0.7)
        twin.move_price(wbtc, 0.7)
        for u in range(len(USERS)):
            for collateral in (weth, wbtc):
                for debt in (usdc, weth):
                    twin.liquidate(u, collateral, debt, None if rng.random() < 0.5 else _raw_for_usd(twin, debt, 500))
                    twin.check()
    finally:
        chain_market.chain.revert(snap)


def test_close_factor_is_half_above_hf_0_95_and_all_below(chain_market: Market):
    snap = chain_market.chain.snapshot()
    try:
        twin = Twin(chain_market)
        usdc, weth = twin.symbols.index("USDC"), twin.symbols.index("WETH")
        for u, drop in ((0, 0.96), (1, 0.85)):
            twin.supply(u, weth, 10 * 10**18)
            limit_usd = twin.m.aave.user_account_data(USERS[u])["available_borrows_base"] / 1e8
            twin.borrow(u, usdc, _raw_for_usd(twin, usdc, limit_usd * 0.999))
        twin.move_price(weth, 0.96)
        hf = aave.account_data(twin.state, twin.params, twin.prices, 0, twin.now()).health_factor[0]
        assert 0.95 < hf < 1
        _, debt0 = aave.balances(twin.state, 0, twin.now())
        twin.liquidate(0, weth, usdc, None)
        _, after0 = aave.balances(twin.state, 0, twin.now())
        assert after0[0, usdc] == pytest.approx(debt0[0, usdc] / 2, rel=1e-6)
        twin.move_price(weth, 0.85 / 0.96)
        assert aave.account_data(twin.state, twin.params, twin.prices, 1, twin.now()).health_factor[0] < 0.95
        twin.liquidate(1, weth, usdc, None)
        _, after1 = aave.balances(twin.state, 1, twin.now())
        assert after1[0, usdc] == 0
        twin.check()
    finally:
        chain_market.chain.revert(snap)


def test_simulator_error_codes_are_the_ones_in_errors_sol():
    from envs.contracts.contract import deploy
    from envs.protocols.aave_v3 import errors

    with PyrevmChain() as chain:
        library = deploy(chain, "Errors")
        names = [n for n in dir(errors) if n.isupper() and n in library.abi.functions]
        assert len(names) >= 12
        for name in names:
            assert library.call(name) == str(getattr(errors, name)), name
