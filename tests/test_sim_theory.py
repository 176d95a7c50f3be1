"""The simulator reproduces results from the literature: LVR (Milionis et al. 2022) and V3 impermanent loss."""

from __future__ import annotations

import numpy as np
import pytest

from envs.drivers import GBMDriver
from envs.drivers.base import SECONDS_PER_YEAR
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import MAX_TICK, MIN_TICK, get_sqrt_ratio_at_tick


def test_arbitrage_loss_of_a_full_range_lp_is_sigma_squared_over_eight_times_value():
    """Milionis, Moallemi, Roughgarden, Zhang (2022): a constant-product pool arbitraged to the
    reference price loses LVR = sigma^2 / 8 * V per unit time. The pool is the simulator's own V3
    pool (1-bp tier, one range over every tick), moved to each new price by its own swap to a
    price limit; the loss counts the input net of the LP fee, i.e. as in a fee-free pool."""
    n, steps, sigma, dt = 2000, 200, 0.8, 3600.0
    eth, usd = 1e18, 1e6  # raw units: token0 = ETH (18 decimals), token1 = USD (6)
    driver = GBMDriver(s0=2000.0, mu=0.0, sigma=sigma, dt=dt)
    price = driver.reset(np.random.default_rng(0), n)  # USD per ETH
    params = v3.V3PoolParams(fee_pips=100, max_positions=1)
    sqrt_start = float(np.sqrt(2000.0 * usd / eth))
    state = v3.initial_state(
        np, n, params, sqrt_start, {MIN_TICK: 5_000.0 * eth * sqrt_start, MAX_TICK: -5_000.0 * eth * sqrt_start}
    )
    everywhere = np.ones(n, bool)
    lvr, expected = np.zeros(n), np.zeros(n)
    for _ in range(steps):
        s = state.sqrt_price
        value = state.liquidity / s / eth * price + state.liquidity * s / usd  # V at the reference price
        expected += sigma**2 / 8 * value * dt / SECONDS_PER_YEAR
        price = driver.step()
        target = np.sqrt(price * usd / eth)
        sell_eth = target < state.sqrt_price  # ETH dear in the pool: the arbitrageur sells it there
        r = v3.swap(state, params, sell_eth, np.full(n, np.inf), target, everywhere & (target != state.sqrt_price))
        net_in = r.amount_in - r.fee
        lvr += np.where(
            sell_eth, r.amount_out / usd - net_in / eth * price, r.amount_out / eth * price - net_in / usd
        )  # profit at the new price
    ratio = lvr.sum() / expected.sum()
    per_world = lvr / expected
    assert ratio == pytest.approx(1.0, abs=4 * per_world.std() / np.sqrt(n) + 1e-3)


@pytest.mark.parametrize("k", [0.85, 0.97, 1.0, 1.05, 1.2])
def test_v3_impermanent_loss_inside_a_range_matches_its_closed_form(k):
    """For a range [pa, pb] holding P0 and P1 = k P0 (price = token1 per token0):
    IL(k) = (2 sqrt(k) - sqrt(pa/P0) - k sqrt(P0/pb)) / (k (1 - sqrt(P0/pb)) + 1 - sqrt(pa/P0)) - 1."""
    params = v3.V3PoolParams(fee_pips=500)
    lower, upper = 197_000, 204_000
    p0_sqrt = float(get_sqrt_ratio_at_tick(np.array([200_000]))[0]) * 1.0003
    state = v3.initial_state(np, 1, params, p0_sqrt, {-887_000: 1e15, 887_000: -1e15})
    one, slot = np.array([True]), np.array([0])
    liquidity = get_liquidity_for_amounts(
        state.sqrt_price,
        get_sqrt_ratio_at_tick(np.array([lower])),
        get_sqrt_ratio_at_tick(np.array([upper])),
        np.array([1e12]),
        np.array([1e30]),
    )
    x0, y0 = v3.modify_position(state, params, slot, np.array([lower]), np.array([upper]), liquidity, one)
    target = np.array([p0_sqrt * np.sqrt(k)])
    v3.swap(state, params, target < state.sqrt_price, np.array([np.inf]), target, one)
    x1, y1 = v3.modify_position(state, params, slot, np.array([lower]), np.array([upper]), -liquidity, one)
    p0, p1 = p0_sqrt**2, float(state.sqrt_price[0]) ** 2
    il_sim = (x1[0] * p1 + y1[0]) / (x0[0] * p1 + y0[0]) - 1
    pa, pb = 1.0001**lower, 1.0001**upper
    il_closed = (2 * np.sqrt(k) - np.sqrt(pa / p0) - k * np.sqrt(p0 / pb)) / (
        k * (1 - np.sqrt(p0 / pb)) + 1 - np.sqrt(pa / p0)
    ) - 1
    assert il_sim == pytest.approx(il_closed, abs=1e-9)
    assert il_sim <= 1e-12  # an LP never beats holding on price moves alone
