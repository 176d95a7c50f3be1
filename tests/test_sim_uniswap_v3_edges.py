"""The V3 simulator agrees with the UniswapV3Pool bytecode (pyrevm) at the edges: ticks emptied by
partial burns, pools priced exactly on a tick boundary, ticks at the bounds, drained pools, word
edges of the tick bitmap, and what the contract refuses."""

from __future__ import annotations

import numpy as np
import pytest

from envs.arrays import array_backend
from envs.contracts.market import Market, MarketSpec, build_market
from envs.evm.revm import PyrevmChain
from envs.protocols.uniswap_v3 import errors
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.tick_math import (
    MAX_TICK,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    sqrt_ratio_x96_at_tick,
    tick_at_sqrt_ratio_x96,
)
from tests.v3_twin import TRADER, PoolTwin, fund


@pytest.fixture(scope="module")
def chain_market() -> Market:
    market = build_market(PyrevmChain(), MarketSpec(v3_fee_tiers=(500,)))
    fund(market)
    return market


@pytest.fixture
def market(chain_market: Market):
    snap = chain_market.chain.snapshot()
    yield chain_market
    chain_market.chain.revert(snap)


def test_ticks_emptied_by_partial_burns_are_cleared_as_on_chain(market):
    """Burning a position in parts leaves float residue in a tick's gross liquidity; the tick must
    still be cleared exactly when the contract clears it, or later swaps cross a tick that is gone."""
    twin = PoolTwin(market, ("WBTC", "WETH"), 3000, sqrt_ratio_x96_at_tick(23_000) + 12345)
    twin.background(21_000, 25_020, 10**21, 10**21)
    twin.load()
    rng = np.random.default_rng(11)
    used: set[int] = set()
    for _ in range(14):
        lower = 23_040 + 60 * int(rng.integers(-25, 0))
        upper = 23_040 + 60 * int(rng.integers(0, 25))
        used |= {lower, upper}
        for slot in (0, 1):
            twin.mint(slot, lower, upper + 60 * slot, int(10 ** rng.uniform(18, 21)), int(10 ** rng.uniform(18, 21)))
            used.add(upper + 60 * slot)
        for slot, percent in (
            (0, rng.integers(5, 95)),
            (1, rng.integers(5, 95)),
            (0, rng.integers(5, 95)),
            (1, 100),
            (0, 100),
        ):
            twin.burn(slot, int(percent))
            twin.check(used)
        twin.collect(0)
        twin.collect(1)
        twin.swap(bool(rng.integers(2)), int(10 ** rng.uniform(5, 8)))
        twin.check(used)


def test_tick_math_is_the_contracts_at_and_beside_every_boundary_tried(market):
    """The exact integer TickMath and the simulator's float table against the pool: a swap that stops
    at a limit (not a tick) leaves slot0.tick = getTickAtSqrtRatio(limit)."""
    twin = PoolTwin(market, ("USDC", "WBTC"), 100, sqrt_ratio_x96_at_tick(0))
    twin.background(-100_000, 100_000, 10**20, 10**20)
    rng = np.random.default_rng(5)
    for t in sorted(int(x) for x in rng.integers(-90_000, 90_000, 12)):
        for limit in (sqrt_ratio_x96_at_tick(t), sqrt_ratio_x96_at_tick(t) - 1, sqrt_ratio_x96_at_tick(t) + 1):
            sqrt_now = twin.pool.call("slot0")[0]
            if limit == sqrt_now:
                continue
            z41 = limit < sqrt_now
            tin, tout = (twin.token0, twin.token1) if z41 else (twin.token1, twin.token0)
            market.v3.exact_input_single(TRADER, tin, tout, 100, 10**30, sqrt_price_limit_x96=limit)
            sqrt_after, tick_after, *_ = twin.pool.call("slot0")
            assert sqrt_after == limit
            assert tick_at_sqrt_ratio_x96(limit) == tick_after
            if limit == sqrt_ratio_x96_at_tick(t):  # the float of a boundary price is exact about its tick
                assert int(get_tick_at_sqrt_ratio(np.array([limit / 2**96]))[0]) == tick_after
        assert float(get_sqrt_ratio_at_tick(np.array([t]))[0]) == sqrt_ratio_x96_at_tick(t) / 2**96


@pytest.mark.parametrize("from_above", [True, False])
def test_a_pool_priced_exactly_on_a_tick_boundary_imports_with_its_own_tick(market, from_above):
    """Swapped down onto an initialized tick t a pool holds price(t) with tick t - 1 (the range above
    is out); swapped up onto it, tick t (the range is in). The import must take slot0.tick."""
    twin = PoolTwin(market, ("USDC", "WBTC"), 100, sqrt_ratio_x96_at_tick(0))
    wide = twin.background(-50_000, 50_000, 10**12, 10**12)
    targets = [-31_017, -2_203, 7, 4_444, 19_999, 33_333]
    for t in targets:  # ten times the wide range's liquidity
        sa, sb = (sqrt_ratio_x96_at_tick(x) / 2**96 for x in (t, t + 40))
        twin.background(t, t + 40, int(11 * wide * (1 / sa - 1 / sb)) + 1, int(11 * wide * (sb - sa)) + 1)
    for t in targets:
        start = sqrt_ratio_x96_at_tick(t + 100 if from_above else t - 100)
        down = start < twin.pool.call("slot0")[0]
        market.v3.exact_input_single(
            TRADER,
            *((twin.token0, twin.token1) if down else (twin.token1, twin.token0)),
            100,
            10**30,
            sqrt_price_limit_x96=start,
        )
        z41 = from_above
        tin, tout = (twin.token0, twin.token1) if z41 else (twin.token1, twin.token0)
        market.v3.exact_input_single(TRADER, tin, tout, 100, 10**30, sqrt_price_limit_x96=sqrt_ratio_x96_at_tick(t))
        assert twin.pool.call("slot0")[0] == sqrt_ratio_x96_at_tick(t)
        twin.load()
        twin.check(targets + [t + 40 for t in targets])
        twin.swap(not z41, 10**6)  # back across t: the liquidity of [t, t + 40] comes and goes as on chain
        twin.check()


def test_positions_at_the_tick_bounds_are_held_imported_and_traded_through(market):
    """A 1-bp pool accepts ticks at exactly MIN_TICK and MAX_TICK; so must the simulator."""
    twin = PoolTwin(market, ("WETH", "WBTC"), 100, sqrt_ratio_x96_at_tick(-25_000))
    twin.background(MIN_TICK, MAX_TICK, 10**22, 10**12)
    twin.load()
    assert {MIN_TICK, MAX_TICK} <= twin.initialized_ticks()
    twin.mint(0, MIN_TICK, -20_000, 10**21, 10**11)
    twin.mint(1, -30_000, MAX_TICK, 10**21, 10**11)
    for z41, raw in ((True, 10**21), (False, 10**11), (True, 10**18)):
        twin.swap(z41, raw)
        twin.check([MIN_TICK, MAX_TICK, -20_000, -30_000])
    twin.burn(0, 100)
    twin.burn(1, 100)
    twin.check([MIN_TICK, MAX_TICK, -20_000, -30_000])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_swap_that_exhausts_the_liquidity_runs_to_the_limit_on_both_backends(market, backend):
    """With every range crossed the price runs to the default limit; on torch the limit must stay a
    float64 above the lowest tick's price, not a float32 below it."""
    twin = PoolTwin(market, ("USDC", "WETH"), 10000, sqrt_ratio_x96_at_tick(200_000))
    twin.background(199_000, 201_000, 10**12, 10**21)
    twin.load(backend)
    twin.swap(True, None)  # everything the trader has: through the range, down to MIN_SQRT_RATIO + 1
    twin.check([199_000, 201_000])
    assert twin.swap(True, 10**6) == errors.SPL  # pinned at the limit: the contract refuses
    twin.swap(False, None)  # and all the way up
    twin.check([199_000, 201_000])
    assert twin.swap(False, 10**6) == errors.SPL


def test_default_price_limit_is_float64_and_the_contracts_widest_on_torch():
    b = array_backend("torch", "cpu")
    z41 = b.asarray(np.array([True, False]), dtype=b.xp.bool)
    limit = v3.default_price_limit(z41)
    assert limit.dtype == b.xp.float64
    assert float(limit[0]) == (4295128739 + 1) / 2**96
    assert float(limit[1]) < 1461446703485210103287273052203988822378723970342 / 2**96


def test_swaps_stop_at_the_edges_of_tick_bitmap_words_in_a_1bp_pool(market):
    """In a 1-bp pool a word is 256 ticks: the contract ends a step at every word edge (rounding each
    step), and a swap that stops exactly on an edge going down leaves the tick below it."""
    twin = PoolTwin(market, ("USDC", "WBTC"), 100, sqrt_ratio_x96_at_tick(1_000) + 777)
    twin.background(-6_000, 8_000, 10**9, 10**9)
    twin.load()
    rng = np.random.default_rng(3)
    for _ in range(12):
        z41 = bool(rng.integers(2))
        twin.swap(z41, int(10 ** rng.uniform(3, 8.5)))
        twin.check()
    tick = int(twin.state.tick[0])
    edge = (tick // 256) * 256
    twin.swap(True, None, limit_x96=sqrt_ratio_x96_at_tick(edge))
    twin.check()
    assert int(twin.state.tick[0]) == edge - 1


def test_a_limit_not_beyond_the_price_is_refused_with_spl(market):
    twin = PoolTwin(market, ("USDC", "WETH"), 3000, sqrt_ratio_x96_at_tick(201_000) + 5)
    twin.background(199_980, 202_020, 10**12, 10**21)
    twin.load()
    now = twin.pool.call("slot0")[0]
    assert twin.swap(True, 10**6, limit_x96=now) == errors.SPL
    assert twin.swap(False, 10**15, limit_x96=now) == errors.SPL
    assert twin.swap(True, 10**6, limit_x96=now + 10**20) == errors.SPL  # the wrong side
    assert twin.swap(True, 10**6, limit_x96=now - now // 1000) == errors.OK
    twin.check()


def test_a_mint_the_position_manager_sizes_to_zero_liquidity_is_refused(market):
    """A deposit too small for one unit of liquidity: the pool's `require(amount > 0)` reverts."""
    twin = PoolTwin(market, ("WETH", "WBTC"), 500, sqrt_ratio_x96_at_tick(201_000) + 5)
    twin.background(199_980, 202_020, 10**12, 10**21)
    twin.load()
    assert twin.mint(0, 200_000, 202_000, 0, 1) == errors.ZERO_LIQUIDITY
    assert twin.mint(0, 200_000, 202_000, 1, 1) == errors.ZERO_LIQUIDITY  # one token1 unit buys < 1 liquidity
    assert twin.mint(0, 200_000, 200_500, 0, 1) == errors.ZERO_LIQUIDITY  # below the price: token1 only
    assert twin.initialized_ticks() == {199_980, 202_020}
    assert twin.mint(0, 200_000, 202_000, 10**9, 10**18) == errors.OK
    twin.check([200_000, 202_000])


def test_the_float_tick_table_is_the_contracts_sqrt_ratio_rounded_once():
    """getSqrtRatioAtTick on integers (TickMath's constants) against the simulator's float table, at
    the bounds, near a rounding tie (875203) and at random ticks: equal to the last bit."""
    rng = np.random.default_rng(2)
    ticks = np.concatenate(
        [
            np.arange(MIN_TICK, MIN_TICK + 300),
            np.arange(MAX_TICK - 300, MAX_TICK + 1),
            np.arange(-300, 300),
            [875_203],
            rng.integers(MIN_TICK, MAX_TICK + 1, 4_000),
        ]
    )
    table = get_sqrt_ratio_at_tick(ticks)
    exact = np.array([sqrt_ratio_x96_at_tick(int(t)) / 2**96 for t in ticks])
    assert (table == exact).all()
    assert (get_tick_at_sqrt_ratio(table) == ticks).all()
    assert (get_tick_at_sqrt_ratio(np.nextafter(table[ticks > MIN_TICK], 0)) == ticks[ticks > MIN_TICK] - 1).all()
