"""The simulator reproduces results from the literature: LVR (Milionis et al. 2022) and V3 impermanent loss."""
from __future__ import annotations

import numpy as np
import pytest

from envs.drivers import GBMDriver
from envs.drivers.base import SECONDS_PER_YEAR
from envs.protocols.uniswap_v2 import pair as v2
from envs.protocols.uniswap_v2.library import get_amount_in_to_price
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick


def test_arbitrage_loss_of_a_full_range_lp_is_sigma_squared_over_eight_times_value():
    """Milionis, Moallemi, Roughgarden, Zhang (2022): a constant-product pool arbitraged to the
    reference price loses LVR = sigma^2 / 8 * V per unit time (no fees)."""
    n, steps, sigma, dt = 2000, 200, 0.8, 3600.0
    driver = GBMDriver(s0=2000.0, mu=0.0, sigma=sigma, dt=dt)
    price = driver.reset(np.random.default_rng(0), n)  # USD per ETH; token0 = ETH, token1 = USD
    pool = v2.initial_state(np, n, 5_000.0, 5_000.0 * 2000.0)
    lvr, expected = np.zeros(n), np.zeros(n)
    for _ in range(steps):
        value = pool.reserve0 * price + pool.reserve1  # V at the current reference price
        expected += sigma**2 / 8 * value * dt / SECONDS_PER_YEAR
        price = driver.step()
        spot = pool.reserve1 / pool.reserve0
        sell_eth = spot > price  # ETH dear in the pool: the arbitrageur sells it there
        eth_in = get_amount_in_to_price(pool.reserve0, pool.reserve1, price, fee_bps=0)
        usd_in = get_amount_in_to_price(pool.reserve1, pool.reserve0, 1 / price, fee_bps=0)
        amount_in = np.where(sell_eth, eth_in, usd_in)
        out = _swap_unrounded(pool, sell_eth, amount_in)
        lvr += np.where(sell_eth, out - amount_in * price, out * price - amount_in)  # profit at the new price
    ratio = lvr.sum() / expected.sum()
    per_world = lvr / expected
    assert ratio == pytest.approx(1.0, abs=4 * per_world.std() / np.sqrt(n) + 1e-3)


def _swap_unrounded(pool, zero_for_one, amount_in):
    """A fee-free swap in whole units (the LVR argument is about a continuum of trades, not wei)."""
    r_in = np.where(zero_for_one, pool.reserve0, pool.reserve1)
    r_out = np.where(zero_for_one, pool.reserve1, pool.reserve0)
    out = amount_in * r_out / (r_in + amount_in)
    pool.reserve0 = pool.reserve0 + np.where(zero_for_one, amount_in, -out)
    pool.reserve1 = pool.reserve1 + np.where(zero_for_one, -out, amount_in)
    return out


@pytest.mark.parametrize("k", [0.85, 0.97, 1.0, 1.05, 1.2])
def test_v3_impermanent_loss_inside_a_range_matches_its_closed_form(k):
    """For a range [pa, pb] holding P0 and P1 = k P0 (price = token1 per token0):
    IL(k) = (2 sqrt(k) - sqrt(pa/P0) - k sqrt(P0/pb)) / (k (1 - sqrt(P0/pb)) + 1 - sqrt(pa/P0)) - 1."""
    params = v3.V3PoolParams(fee_pips=500)
    lower, upper = 197_000, 204_000
    p0_sqrt = float(get_sqrt_ratio_at_tick(np.array([200_000]))[0]) * 1.0003
    state = v3.initial_state(np, 1, params, p0_sqrt, {-887_000: 1e15, 887_000: -1e15})
    one, slot = np.array([True]), np.array([0])
    liquidity = get_liquidity_for_amounts(state.sqrt_price, get_sqrt_ratio_at_tick(np.array([lower])),
                                          get_sqrt_ratio_at_tick(np.array([upper])), np.array([1e12]), np.array([1e30]))
    x0, y0 = v3.modify_position(state, params, slot, np.array([lower]), np.array([upper]), liquidity, one)
    target = np.array([p0_sqrt * np.sqrt(k)])
    v3.swap(state, params, target < state.sqrt_price, np.array([np.inf]), target, one)
    x1, y1 = v3.modify_position(state, params, slot, np.array([lower]), np.array([upper]), -liquidity, one)
    p0, p1 = p0_sqrt**2, float(state.sqrt_price[0]) ** 2
    il_sim = (x1[0] * p1 + y1[0]) / (x0[0] * p1 + y0[0]) - 1
    pa, pb = 1.0001**lower, 1.0001**upper
    il_closed = (2 * np.sqrt(k) - np.sqrt(pa / p0) - k * np.sqrt(p0 / pb)) / (
        k * (1 - np.sqrt(p0 / pb)) + 1 - np.sqrt(pa / p0)) - 1
    assert il_sim == pytest.approx(il_closed, abs=1e-9)
    assert il_sim <= 1e-12  # an LP never beats holding on price moves alone
