"""Differential fuzz: random action sequences on the simulator and on the protocols' bytecode (pyrevm),
in a realistic regime and a stress regime, on numpy and on torch. After every action the simulator
either matches the chain (1e-9 relative or 2 raw units; Aave's coupled amounts within two units of
the coarsest token, as in the parity tests) or reverts with the same error code.

Fast by default (a few seeds per regime, well under a minute). The long run:

    DEFIGYM_FUZZ_CASES=200 pytest tests/test_sim_fuzz.py

Regimes (Uniswap V3): realistic is a USDC/WETH pool of the 0.05% or 0.3% tier around $2,000 with a
few ranges of $10k-$10M and swaps of $1-$1M, positions near the price; stress adds the 1-bp and
1% tiers, prices anywhere from tick -600,000 to +880,000, pools drained by swaps to the price
limit, ranges at the tick bounds or one spacing wide, dust deposits, and limits exactly on tick
boundaries. (Below tick ~-600,000 a Q64.96 sqrt price has fewer significant bits than the steps it
takes, see the README.) Aave: realistic is supplies, borrows at 50-99% of the limit, repays,
withdrawals, days to months of interest and oracle moves; stress adds borrows exactly at the LTV
limit, withdrawals of exactly the balance, dust amounts, health factors a price tick either side
of 1 and 0.95, collateral crashes followed by liquidations (same-asset ones and full seizures).
"""

from __future__ import annotations

import os
from dataclasses import fields

import numpy as np
import pytest

from envs.arrays import array_backend
from envs.contracts.market import Market, MarketSpec, build_market
from envs.evm.chain import TransactionReverted
from envs.evm.revm import PyrevmChain
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.tick_math import MAX_TICK, MIN_TICK, sqrt_ratio_x96_at_tick
from tests.test_sim_aave_v3_parity import USERS, Twin, _raw_for_usd
from tests.v3_twin import MAX_LIMIT_X96, MIN_LIMIT_X96, PoolTwin, fund

CASES = int(os.environ.get("DEFIGYM_FUZZ_CASES", "3"))  # seeds per regime and backend
STEPS = int(os.environ.get("DEFIGYM_FUZZ_STEPS", "24"))


@pytest.fixture(scope="module")
def chain_market() -> Market:
    market = build_market(PyrevmChain(), MarketSpec(v3_fee_tiers=()))  # every tier free for fresh pools
    fund(market)
    return market


@pytest.fixture
def market(chain_market: Market):
    snap = chain_market.chain.snapshot()
    yield chain_market
    chain_market.chain.revert(snap)


# --- Uniswap V3 ---------------------------------------------------------------------------------


def _spaced(tick: int, spacing: int) -> int:
    return max(min(tick - tick % spacing, MAX_TICK // spacing * spacing), -(-MIN_TICK // spacing) * spacing)


def _v3_pool(market: Market, rng: np.random.Generator, regime: str, backend: str) -> PoolTwin:
    """A fresh pool with background liquidity, imported into the simulator."""
    if regime == "realistic":
        fee = int(rng.choice([500, 3000]))
        start = 200_311 + int(rng.integers(-2_000, 2_000))
        sqrt_start = sqrt_ratio_x96_at_tick(start) + int(rng.integers(1, 10**18)) * 100
        twin = PoolTwin(market, ("USDC", "WETH"), fee, sqrt_start)
        spacing = v3.TICK_SPACING[fee]
        for _ in range(int(rng.integers(1, 4))):
            half = int(rng.integers(1, 200)) * spacing
            center = _spaced(start + int(rng.integers(-half, half + 1)), spacing)
            usd = 10 ** rng.uniform(6, 7.7)
            _background(twin, center - half, center + half + spacing, int(usd / 2 * 10**6), int(usd / 4000 * 1e18))
    else:
        fee = int(rng.choice([100, 500, 3000, 10000]))
        spacing = v3.TICK_SPACING[fee]
        start = int(
            rng.choice([rng.integers(-600_000, 880_000), rng.integers(-50_000, 50_000), rng.integers(860_000, 886_000)])
        )
        twin = PoolTwin(market, ("WBTC", "WETH"), fee, sqrt_ratio_x96_at_tick(start) + int(rng.integers(0, 3)))
        shape = rng.choice(["full", "narrow", "mixed"])
        raw = int(10 ** rng.uniform(12, 24))
        if shape in ("full", "mixed"):
            _background(twin, _spaced(MIN_TICK + spacing - 1, spacing), _spaced(MAX_TICK, spacing), raw, raw)
        if shape in ("narrow", "mixed"):
            lower = _spaced(start, spacing) - spacing * int(rng.integers(0, 3))
            _background(twin, lower, lower + spacing * int(rng.integers(1, 4)), raw, raw)
    twin.load(backend)
    twin.at_price_resolution = regime == "stress"
    return twin


def _background(twin: PoolTwin, lower: int, upper: int, raw0: int, raw1: int) -> None:
    """Background liquidity where the position manager can size it (a deposit worth less than one
    unit of liquidity reverts; the pool then simply has less)."""
    try:
        twin.background(lower, upper, raw0, raw1)
    except TransactionReverted:
        pass


def _v3_step(twin: PoolTwin, rng: np.random.Generator, regime: str, touched: set[int]) -> None:
    spacing, s = twin.params.tick_spacing, twin.state
    tick = int(twin.b.to_numpy(s.tick)[0])
    op = rng.choice(["swap", "swap", "swap", "limit", "mint", "burn", "collect"])
    liquidity, owed0, owed1 = (
        twin.b.to_numpy(x)[0] for x in (s.position_liquidity, s.position_owed0, s.position_owed1)
    )
    free = [k for k in range(2) if liquidity[k] == 0 and owed0[k] == 0 and owed1[k] == 0]
    held = [k for k in range(2) if liquidity[k] > 0]
    if op == "swap":
        z41 = bool(rng.integers(2))
        if regime == "realistic":  # $1 to $1M of USDC (token0) or WETH (token1)
            token_in = twin.token0 if z41 else twin.token1
            twin.swap(z41, int(10 ** rng.uniform(0, 6) * (1e6 if token_in.symbol == "USDC" else 5e14)))
        else:
            twin.swap(z41, None if rng.random() < 0.15 else int(10 ** rng.uniform(0, 26)))
    elif op == "limit":  # to exactly a tick boundary, or to a price up to ~3% away
        z41 = bool(rng.integers(2))
        target = tick + int(rng.integers(-300, 1) if z41 else rng.integers(1, 301))
        target = max(min(target, MAX_TICK - 1), MIN_TICK + 1)
        now = twin.pool.call("slot0")[0]
        limit = (
            sqrt_ratio_x96_at_tick(target)
            if rng.random() < 0.5
            else min(max(int(now * (1 + (-1 if z41 else 1) * rng.uniform(1e-6, 0.015))), MIN_LIMIT_X96), MAX_LIMIT_X96)
        )
        twin.swap(z41, int(10 ** rng.uniform(8, 26)), limit_x96=limit)
    elif op == "mint" and free:
        if regime == "stress" and rng.random() < 0.3:
            lower, upper = _spaced(MIN_TICK + spacing - 1, spacing), _spaced(MAX_TICK, spacing)
        else:
            width = spacing * int(rng.integers(1, 60))
            center = _spaced(tick, spacing) + spacing * int(rng.integers(-20, 21))
            lower, upper = _spaced(center - width, spacing), _spaced(center + width, spacing)
            if lower >= upper:
                return
        if regime == "realistic":  # $1k to $1M of each token
            usd = 10 ** rng.uniform(3, 6)
            amounts = [int(usd * (1e6 if t.symbol == "USDC" else 5e14)) for t in (twin.token0, twin.token1)]
        elif rng.random() < 0.3:  # dust
            amounts = [int(10 ** rng.uniform(0, 1.5)) for _ in range(2)]
        else:
            amounts = [int(10 ** rng.uniform(9, 22)) for _ in range(2)]
        twin.mint(free[0], lower, upper, *amounts)
        touched |= {lower, upper}
    elif op == "burn" and held:
        twin.burn(held[0], int(rng.choice([10, 30, 50, 99, 100])))
    elif op == "collect" and twin.token_ids:
        twin.collect(int(rng.choice(sorted(twin.token_ids))))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("regime", ["realistic", "stress"])
@pytest.mark.parametrize("case", range(CASES))
def test_v3_fuzz_matches_the_pool_bytecode(market, regime, backend, case):
    rng = np.random.default_rng([11, case, regime == "stress", backend == "torch"])
    twin = _v3_pool(market, rng, regime, backend)
    touched: set[int] = set()
    for _ in range(STEPS):
        _v3_step(twin, rng, regime, touched)
        twin.check(touched)


# --- Aave V3 ------------------------------------------------------------------------------------


class TorchShadowTwin(Twin):
    """The Aave twin, with every simulator action also run on torch and the two states compared."""

    def __init__(self, market: Market):
        super().__init__(market)
        self.b = array_backend("torch", "cpu")
        reserves_params = self.params
        self.tparams = type(reserves_params)(
            symbols=reserves_params.symbols,
            **{
                f.name: self.b.asarray(getattr(reserves_params, f.name))
                for f in fields(reserves_params)
                if f.name != "symbols"
            },
        )
        self.tstate = self._to_torch(self.state)

    def _to_torch(self, state):
        return type(state)(**{f.name: self.b.asarray(getattr(state, f.name)) for f in fields(state)})

    def _shadow(self, action: str, *args) -> None:
        b = self.b
        converted = [
            (b.asarray(a, dtype=b.xp.bool) if a.dtype == bool else b.asarray(a)) if isinstance(a, np.ndarray) else a
            for a in args
        ]
        getattr(aave, action)(self.tstate, self.tparams, *converted)
        for f in fields(self.state):
            np.testing.assert_allclose(
                b.to_numpy(getattr(self.tstate, f.name)),
                getattr(self.state, f.name),
                rtol=1e-12,
                atol=1e-9,
                err_msg=f"torch vs numpy: {f.name} after {action}",
            )

    def supply(self, user, r, raw):
        tstate_before = self._to_torch(self.state)
        super().supply(user, r, raw)
        self.tstate = tstate_before
        self._shadow("supply", user, r, np.array([float(raw)]), self.now(), np.array([True]))

    def borrow(self, user, r, raw):
        tstate_before = self._to_torch(self.state)
        super().borrow(user, r, raw)
        self.tstate = tstate_before
        self._shadow("borrow", self.prices, user, r, np.array([float(raw)]), self.now(), np.array([True]))

    def repay(self, user, r, raw):
        tstate_before = self._to_torch(self.state)
        super().repay(user, r, raw)
        self.tstate = tstate_before
        self._shadow("repay", user, r, np.array([np.inf if raw is None else float(raw)]), self.now(), np.array([True]))

    def withdraw(self, user, r, raw):
        tstate_before = self._to_torch(self.state)
        super().withdraw(user, r, raw)
        self.tstate = tstate_before
        self._shadow(
            "withdraw",
            self.prices,
            user,
            r,
            np.array([np.inf if raw is None else float(raw)]),
            self.now(),
            np.array([True]),
        )

    def liquidate(self, user, collateral, debt, debt_to_cover):
        tstate_before = self._to_torch(self.state)
        super().liquidate(user, collateral, debt, debt_to_cover)
        self.tstate = tstate_before
        self._shadow(
            "liquidation_call",
            self.prices,
            user,
            collateral,
            debt,
            np.array([np.inf if debt_to_cover is None else float(debt_to_cover)]),
            self.now(),
            np.array([True]),
        )


def _limit(twin: Twin, user: int, r: int) -> int:
    available = twin.m.aave.user_account_data(USERS[user])["available_borrows_base"]
    return available * 10 ** twin.tokens[r].decimals // int(twin.prices[0, r])


def _set_price(twin: Twin, r: int, price: int) -> None:
    twin.m.aave.set_price(twin.symbols[r], price)
    twin.prices[0, r] = price


def _to_health_factor_edge(twin: Twin, user: int, r: int, threshold_wad: int, side: int) -> None:
    """Move collateral ``r``'s oracle price to one tick below (side -1) or at (0) the price where the
    user's health factor crosses ``threshold_wad`` on chain (bisection)."""
    lo, hi = 1, int(twin.prices[0, r])
    if twin.m.aave.user_account_data(USERS[user])["health_factor"] < threshold_wad:
        return
    while hi - lo > 1:
        mid = (lo + hi) // 2
        _set_price(twin, r, mid)
        above = twin.m.aave.user_account_data(USERS[user])["health_factor"] >= threshold_wad
        lo, hi = (lo, mid) if above else (mid, hi)
    _set_price(twin, r, max(hi + side, 1))


def _aave_step(twin: Twin, rng: np.random.Generator, regime: str) -> None:
    usdc, weth, wbtc = (twin.symbols.index(s) for s in ("USDC", "WETH", "WBTC"))
    u = int(rng.integers(len(USERS)))
    r = int(rng.choice([usdc, weth, wbtc]))
    stress = regime == "stress"
    op = rng.choice(
        ["supply", "supply", "borrow", "borrow", "repay", "withdraw", "time", "price", "liquidate"]
        + (["edge", "dust", "crash"] if stress else [])
    )
    if op == "supply":
        twin.supply(u, r, _raw_for_usd(twin, r, 10 ** rng.uniform(2, 6.5)))
    elif op == "borrow":  # amounts both sides can hold exactly (above 2**53 a float cannot)
        limit = _limit(twin, u, r)
        if stress and rng.random() < 0.6:
            twin.borrow(u, r, int(float(max(limit + int(rng.integers(-1, 3)), 1))))
        else:
            twin.borrow(u, r, int(float(max(int(limit * rng.uniform(0.5, 0.99)), 1))))
    elif op == "repay":
        twin.repay(u, r, None if rng.random() < 0.4 else _raw_for_usd(twin, r, 10 ** rng.uniform(0, 4)) + 1)
    elif op == "withdraw":
        balance = twin.m.aave.user_reserve_data(twin.tokens[r], USERS[u])["current_atoken_balance"]
        choice = rng.random()
        exact = stress and choice < 0.6 and balance < 2**53  # one raw unit past a balance is resolved below 2**53
        raw = (
            None
            if choice < 0.2
            else (balance + int(rng.integers(0, 2)) if exact else max(int(balance * rng.uniform(0.01, 0.9)), 1))
        )
        twin.withdraw(u, r, raw)
    elif op == "time":
        twin.advance(int(10 ** rng.uniform(2, 7.5 if stress else 6.9)))  # up to ~a year (stress), ~3 months
    elif op == "price":
        moved, factor = int(rng.choice([weth, wbtc])), float(rng.uniform(0.7, 1.15))
        if twin.prices[0, moved] * factor >= 1:
            twin.move_price(moved, factor)
    elif op == "liquidate":
        collateral = int(rng.choice([usdc, weth, wbtc]))
        debt = int(rng.choice([usdc, weth, wbtc]))
        cover = None if rng.random() < 0.5 else _raw_for_usd(twin, debt, 10 ** rng.uniform(1, 4))
        twin.liquidate(u, collateral, debt, cover)
    elif op == "edge":  # a price tick either side of HF 1 or 0.95, then a liquidation there
        collateral = int(rng.choice([weth, wbtc]))
        threshold = int(rng.choice([10**18, 95 * 10**16]))
        _to_health_factor_edge(twin, u, collateral, threshold, int(rng.choice([-1, 0])))
        debt = int(rng.choice([usdc, weth, wbtc]))
        twin.liquidate(u, int(rng.choice([collateral, usdc, weth, wbtc])), debt, None)
    elif op == "crash":  # a collateral falls 10-60%, then every account is offered for liquidation
        crashed = int(rng.choice([weth, wbtc]))
        if twin.prices[0, crashed] * 0.4 >= 1:
            twin.move_price(crashed, float(rng.uniform(0.4, 0.9)))
        for user in range(len(USERS)):
            collateral, debt = int(rng.choice([usdc, weth, wbtc])), int(rng.choice([usdc, weth, wbtc]))
            cover = None if rng.random() < 0.5 else _raw_for_usd(twin, debt, 10 ** rng.uniform(1, 5))
            twin.liquidate(user, collateral, debt, cover)
    elif op == "dust":
        action = rng.choice(["supply", "borrow", "repay", "withdraw", "liquidate"])
        raw = int(rng.integers(1, 4))
        if action == "supply":
            twin.supply(u, r, raw)
        elif action == "borrow":
            twin.borrow(u, r, raw)
        elif action == "repay":
            twin.repay(u, r, raw)
        elif action == "withdraw":
            twin.withdraw(u, r, raw)
        else:
            twin.liquidate(u, int(rng.choice([weth, wbtc])), r, raw)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("regime", ["realistic", "stress"])
@pytest.mark.parametrize("case", range(CASES))
def test_aave_fuzz_matches_the_pool_bytecode(market, regime, backend, case):
    rng = np.random.default_rng([13, case, regime == "stress", backend == "torch"])
    twin = TorchShadowTwin(market) if backend == "torch" else Twin(market)
    usdc, weth, wbtc = (twin.symbols.index(s) for s in ("USDC", "WETH", "WBTC"))
    for u in range(len(USERS)):  # every account starts with some collateral, and some with debt
        collateral = int(rng.choice([usdc, weth, wbtc]))
        twin.supply(u, collateral, _raw_for_usd(twin, collateral, 10 ** rng.uniform(3, 6)))
        if rng.random() < 0.7:
            borrowed = int(rng.choice([usdc, weth, wbtc]))
            twin.borrow(u, borrowed, int(float(max(int(_limit(twin, u, borrowed) * rng.uniform(0.5, 1.0)), 1))))
    twin.check()
    for _ in range(STEPS):
        _aave_step(twin, rng, regime)
        twin.check()
