"""The compiled swap kernel (envs/protocols/uniswap_v3/swap_kernel.py) against the array code, bit for bit,
on random batches of pools (every fee tier, prices from tick -880,000 to +880,000, swaps to the
limits, reverts), and against the pool bytecode through the differential fuzz's harness."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from envs.protocols.uniswap_v3 import errors, swap_kernel
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import MAX_TICK, MIN_TICK

WORLDS, RANGES = 48, 3


def assert_same_state(expected: v3.V3PoolState, actual: v3.V3PoolState, when: str) -> None:
    for f in fields(expected):
        a, b = getattr(expected, f.name), getattr(actual, f.name)
        assert np.array_equal(a, b, equal_nan=True), f"{f.name} after {when}: array {a} vs kernel {b}"


def assert_same_result(expected: v3.SwapResult, actual: v3.SwapResult, when: str) -> None:
    for f in fields(expected):
        a, b = getattr(expected, f.name), getattr(actual, f.name)
        assert np.array_equal(a, b, equal_nan=True), f"{f.name} of {when}: array {a} vs kernel {b}"


def random_pools(rng: np.random.Generator, regime: str) -> tuple[v3.V3PoolParams, v3.V3PoolState]:
    """WORLDS pools of one tier, each with RANGES ranges on distinct ticks. Liquidity is an integer
    times a power of two, so each world's liquidityNet sums to exactly zero (a pool read from a chain
    does; a float residue outside all ranges is the module note's one difference)."""
    fee = int(rng.choice([500, 3000])) if regime == "realistic" else int(rng.choice([100, 500, 3000, 10000]))
    params = v3.V3PoolParams(fee_pips=fee, max_ticks=2 * RANGES + 4, max_positions=2)
    spacing = params.tick_spacing
    lowest, highest = -(-MIN_TICK // spacing), MAX_TICK // spacing  # in units of the spacing
    ticks, nets, prices = [], [], []
    for _ in range(WORLDS):
        if regime == "realistic":
            center, spread = 200_000 // spacing, 4_000 // spacing
        else:
            center = (
                int(
                    rng.choice(
                        [
                            rng.integers(-880_000, 880_000),
                            rng.integers(-640_000, -590_000),
                            rng.integers(-20_000, 20_000),
                        ]
                    )
                )
                // spacing
            )
            spread = int(rng.choice([4, 50, 5_000]))
        full_range = regime == "stress" and rng.random() < 0.3
        candidates = np.setdiff1d(
            np.arange(max(center - spread, lowest), min(center + spread, highest) + 1),
            [lowest, highest] if full_range else [],
        )
        row = rng.choice(candidates, 2 * RANGES, replace=False)
        if full_range:
            row[:2] = lowest, highest
        row = row * spacing
        scale = 2.0 ** int(rng.integers(20, 40) if regime == "realistic" else rng.integers(0, 70))
        net = dict.fromkeys(row.tolist(), 0.0)
        for a, b in row.reshape(RANGES, 2):
            amount = float(rng.integers(1, 2**40)) * scale
            net[min(a, b)] += amount
            net[max(a, b)] -= amount
        ordered = sorted(net)
        ticks.append(ordered)
        nets.append([net[t] for t in ordered])
        start = int(
            np.clip(center * spacing + rng.integers(-spread * spacing, spread * spacing + 1), MIN_TICK, MAX_TICK - 1)
        )
        base = float(get_sqrt_ratio_at_tick(np.array([start]))[0])
        step = float(get_sqrt_ratio_at_tick(np.array([start + 1]))[0]) - base
        prices.append(base if rng.random() < 0.2 else base + step * rng.random())  # at a boundary, or inside
    state = v3.from_arrays(np, params, np.array(prices), np.array(ticks, dtype=np.int64), np.array(nets))
    return params, state


def random_swap(rng: np.random.Generator, state: v3.V3PoolState, regime: str):
    """A swap per world: amounts from dust to 1e30 raw units, or to a price limit (a tick boundary or a
    random price, sometimes on the wrong side: 'SPL'), some zero ('AS'), some worlds inactive."""
    n = state.n
    zero_for_one = rng.random(n) < 0.5
    amount = np.floor(10 ** rng.uniform(0, 24 if regime == "realistic" else 30, n))
    limit = v3.default_price_limit(zero_for_one)
    to_limit = rng.random(n) < 0.25
    away = np.where(zero_for_one, -1, 1) * rng.integers(-3, 400, n)  # mostly beyond the price, a few not
    boundary = get_sqrt_ratio_at_tick(np.clip(state.tick + away, MIN_TICK, MAX_TICK))
    jitter = state.sqrt_price * (1 + np.where(zero_for_one, -1, 1) * 10 ** rng.uniform(-9, -1.5, n))
    limit = np.where(to_limit, np.where(rng.random(n) < 0.5, boundary, jitter), limit)
    amount = np.where(to_limit & (rng.random(n) < 0.6), np.inf, amount)
    amount = np.where(rng.random(n) < 0.03, 0.0, amount)
    return zero_for_one, amount, limit, rng.random(n) < 0.95


def random_position_change(rng: np.random.Generator, params, expected: v3.V3PoolState, actual: v3.V3PoolState):
    """Mint into an empty slot or burn part of a held one, the same (array code) on both states."""
    n, spacing = expected.n, params.tick_spacing
    slot = np.full(n, int(rng.integers(2)), dtype=np.int64)
    rows = np.arange(n)
    held = expected.position_liquidity[rows, slot]
    if rng.random() < 0.5 and bool(np.all(held == 0)) and bool(np.all(expected.position_owed0[rows, slot] == 0)):
        center = expected.tick // spacing * spacing
        lower = np.maximum(center - spacing * rng.integers(0, 40, n), -(-MIN_TICK // spacing) * spacing)
        upper = np.minimum(center + spacing * rng.integers(1, 40, n), MAX_TICK // spacing * spacing)
        liquidity = np.floor(10 ** rng.uniform(6, 24, n))
        for state in (expected, actual):
            v3.mint(state, params, slot, lower, upper, liquidity, np.ones(n, bool))
    elif bool(np.any(held > 0)):
        delta = -np.floor(held * rng.choice([0.3, 1.0]))
        for state in (expected, actual):
            v3.modify_position(
                state, params, slot, state.position_lower[rows, slot], state.position_upper[rows, slot], delta, held > 0
            )


@pytest.mark.parametrize("regime", ["realistic", "stress"])
@pytest.mark.parametrize("seed", range(4))
def test_the_kernel_swaps_as_the_array_code_bit_for_bit(regime, seed):
    rng = np.random.default_rng([5, seed, regime == "stress"])
    params, expected = random_pools(rng, regime)
    actual = expected.copy()
    # the 1-bp tier's bitmap words are 256 ticks wide: a large swap is thousands of array-code steps
    for step in range(12 if params.fee_pips == 100 else 40):
        if rng.random() < 0.2:
            random_position_change(rng, params, expected, actual)
        args = random_swap(rng, expected, regime)
        when = f"swap {step}"
        assert_same_result(v3.swap(expected, params, *args), swap_kernel.swap(actual, params, *args), when)
        assert_same_state(expected, actual, when)
        for slot in (0, 1):
            slots = np.full(expected.n, slot, dtype=np.int64)
            for a, b in zip(v3.position_fees(expected, slots), swap_kernel.position_fees(actual, slots)):
                assert np.array_equal(a, b), f"position {slot} fees after {when}: array {a} vs kernel {b}"


def test_the_cases_are_exercised():
    """The fuzz above reaches every outcome: swaps that ran, each revert, crossings and coarse prices."""
    codes, crossed, coarse = set(), False, False
    for seed in range(4):
        rng = np.random.default_rng([5, seed, True])
        params, state = random_pools(rng, "stress")
        coarse |= bool(np.any(state.sqrt_price < 2.0**-43))
        for _ in range(40):
            cursor = state.cursor
            codes |= set(swap_kernel.swap(state, params, *random_swap(rng, state, "stress")).error.tolist())
            crossed |= bool(np.any(state.cursor != cursor))
    assert codes == {errors.OK, errors.SPL, errors.AS, errors.NOTHING_SWAPPED} and crossed and coarse


def test_a_swap_sequence_is_the_swaps_one_after_another():
    rng = np.random.default_rng(3)
    params, expected = random_pools(rng, "realistic")
    actual = expected.copy()
    zero_for_one = rng.random(60) < 0.5
    amount = np.where(rng.random(60) < 0.05, 0.0, np.floor(10 ** rng.uniform(10, 23, 60)))
    flows = np.zeros((2, expected.n))
    reverted = np.zeros(expected.n, dtype=np.int64)
    for z, a in zip(zero_for_one, amount):
        z41 = np.full(expected.n, z)
        r = v3.swap(
            expected, params, z41, np.full(expected.n, a), v3.default_price_limit(z41), np.ones(expected.n, bool)
        )
        ok = r.error == errors.OK
        flows += np.where(ok, np.where(z, [r.amount_in, -r.amount_out], [-r.amount_out, r.amount_in]), 0.0)
        reverted += ~ok
    amount0, amount1, counted = swap_kernel.swap_sequence(actual, params, zero_for_one, amount)
    assert_same_state(expected, actual, "the sequence")
    np.testing.assert_allclose(amount0, flows[0], rtol=1e-12)
    np.testing.assert_allclose(amount1, flows[1], rtol=1e-12)
    assert np.array_equal(counted, reverted) and counted.max() > 0


def test_a_swap_replaces_the_arrays_as_the_array_code_does():
    """A caller holding the state's arrays from before a swap still sees the old values."""
    params = v3.V3PoolParams()
    state = v3.initial_state(np, 2, params, 1.0, {-60_000: 1e18, 60_000: -1e18})
    before = state.sqrt_price
    swap_kernel.swap(
        state,
        params,
        np.array([True, False]),
        np.array([1e15, 1e15]),
        v3.default_price_limit(np.array([True, False])),
        np.ones(2, bool),
    )
    assert np.array_equal(before, [1.0, 1.0]) and state.sqrt_price[0] < 1.0 < state.sqrt_price[1]


def test_the_kernel_takes_numpy_states_only():
    import torch

    state = v3.initial_state(np, 1, v3.V3PoolParams(), 1.0, {-60: 1e18, 60: -1e18})
    assert swap_kernel.applies(state)
    assert not swap_kernel.applies(replace(state, sqrt_price=torch.from_numpy(state.sqrt_price)))


def test_negative_amounts_are_refused():
    params = v3.V3PoolParams()
    state = v3.initial_state(np, 1, params, 1.0, {-60: 1e18, 60: -1e18})
    with pytest.raises(ValueError, match="non-negative"):
        swap_kernel.swap(state, params, np.array([True]), np.array([-1.0]), np.array([0.5]), np.array([True]))
    with pytest.raises(ValueError, match="non-negative"):
        swap_kernel.swap_sequence(state, params, np.array([True]), np.array([np.nan]))


# --- against the bytecode: the differential fuzz with every simulator swap run by the kernel ------


@pytest.fixture
def kernel_swaps(monkeypatch):
    """v3.swap replaced by the kernel, which is checked against the array code on a copy each time."""
    array_swap = v3.swap

    def swap(state, params, zero_for_one, amount_in, sqrt_price_limit, active):
        expected = state.copy()
        want = array_swap(expected, params, zero_for_one, amount_in, sqrt_price_limit, active)
        got = swap_kernel.swap(state, params, zero_for_one, amount_in, sqrt_price_limit, active)
        assert_same_result(want, got, "a fuzz swap")
        assert_same_state(expected, state, "a fuzz swap")
        return got

    monkeypatch.setattr(v3, "swap", swap)


@pytest.mark.parametrize("regime", ["realistic", "stress"])
@pytest.mark.parametrize("case", range(2))
def test_the_kernel_matches_the_pool_bytecode(kernel_swaps, market_fixture, regime, case):
    from tests.test_sim_fuzz import _v3_pool, _v3_step

    rng = np.random.default_rng([13, case, regime == "stress"])
    twin = _v3_pool(market_fixture, rng, regime, "numpy")
    touched: set[int] = set()
    for _ in range(24):
        _v3_step(twin, rng, regime, touched)
        twin.check(touched)


@pytest.fixture(scope="module")
def chain_market():
    from envs.contracts.market import MarketSpec, build_market
    from envs.evm.revm import PyrevmChain
    from tests.v3_twin import fund

    market = build_market(PyrevmChain(), MarketSpec(v3_fee_tiers=()))
    fund(market)
    return market


@pytest.fixture
def market_fixture(chain_market):
    snap = chain_market.chain.snapshot()
    yield chain_market
    chain_market.chain.revert(snap)
