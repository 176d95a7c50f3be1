"""A just-in-time LP (V3WorldParams.jit_usd): it mints around the price before a large uninformed swap and
burns after it, earning the share of the swap's fee its liquidity is of the active liquidity, the same on
the simulator and on the contracts."""

from __future__ import annotations

import numpy as np

from envs.arrays import array_backend
from envs.drivers import make_driver
from envs.protocols.uniswap_v3 import pool as v3
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v3_pool import pool_swap

JIT = dict(jit_usd=2_000_000.0, jit_min_swap_usd=50_000.0, jit_half_width=600)


def test_the_jit_lp_earns_its_liquiditys_share_of_the_swaps_fee():
    """Within its range the JIT LP's fee is the swap's fee times its liquidity over the active liquidity
    (the pool's own fee growth, per unit of liquidity), and nothing is left open after the swap."""
    world = UniswapV3World(
        4, make_driver("gbm", dt=3600.0, sigma=0.8), V3WorldParams(fee_pips=3000, **JIT), array_backend("numpy")
    )
    world.reset(np.random.default_rng(0), 1.0)
    jit = world.params.slots - 1
    sell_usdc, raw = np.array([True, False, True, False]), np.array([3e11, 40e18, 1e11, 1e18])  # 300k, 40, 100k, 1
    minted = world.jit_mint(sell_usdc, raw)
    assert minted.tolist() == [True, True, True, False]  # the 1-WETH swap is below jit_min_swap_usd
    world.select_lp(jit)
    liquidity_jit = world.state.position_liquidity[:, jit].copy()
    active = world.state.liquidity.copy()
    z41 = np.asarray(sell_usdc)
    result = pool_swap(world.state, world.pool_params, z41, raw, v3.default_price_limit(z41), np.ones(4, bool))
    lower, upper, _ = world.agent_range()
    assert np.all((world.tick()[minted] >= lower[minted]) & (world.tick()[minted] < upper[minted]))  # stayed inside
    fees0, fees1 = world.agent_fees()
    earned = np.where(sell_usdc, fees0 * 1e6, fees1 * 1e18)
    expected = np.asarray(result.fee) * liquidity_jit / active
    assert np.allclose(earned[minted], expected[minted], rtol=1e-9)
    assert earned[~minted] == 0
    before = world.agent_wallet()
    world.select_lp(0)
    world.jit_burn(minted)
    world.select_lp(jit)
    after = world.agent_wallet()
    assert np.all(world.agent_range()[2] == 0)  # burned: nothing left in the pool
    assert np.all(np.where(sell_usdc, after[0] - before[0], after[1] - before[1])[minted] > 0)


def jit_episode(backend: str) -> tuple[list[float], list[float]]:
    """24 hourly steps of the LP env with the JIT LP beside it: the agent's rewards and the JIT LP's wallet."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the ids)

    env = gym.make(
        "defigym/UniswapV3LP-v0",
        backend=backend,
        horizon=24,
        fee_pips=3000,
        world={**JIT, "flow": "toy", "noise_trade_usd": 30_000.0},
        driver_kwargs={"dt": 3600.0, "sigma": 0.8},
    )
    env.reset(seed=2)
    rewards = [env.step(2 if i == 0 else 0)[1] for i in range(24)]
    market = env.unwrapped.core.market
    market.select_lp(market.params.slots - 1)
    wallet = [float(x[0]) for x in market.agent_wallet()]
    assert not market.agent_range()[2][0]  # no position left open between swaps
    market.select_lp(0)
    env.close()
    return rewards, wallet


def test_the_jit_lp_acts_the_same_on_the_simulator_and_the_contracts():
    (sim_rewards, sim_wallet), (evm_rewards, evm_wallet) = jit_episode("numpy"), jit_episode("evm")
    assert np.allclose(sim_rewards, evm_rewards, atol=1e-2)
    assert np.allclose(sim_wallet, evm_wallet, rtol=1e-9)
    assert sim_wallet[0] != JIT["jit_usd"] / 2  # it traded
