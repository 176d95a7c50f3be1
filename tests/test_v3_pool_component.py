"""The Uniswap V3 pool's reads are a component with two sides: the simulator's batched state and the real pool on
a chain read the same curve, and the chain side is what the chain worlds and the live adapter both read."""

from __future__ import annotations

import numpy as np

from agents.live.market import LiveUniswapV3Market
from envs.drivers import make_driver
from envs.uniswap_v3_lp import make_market
from envs.worlds.block_accounting import reserves_moved
from envs.worlds.chain_world import ChainLP, ChainUniswapV3World
from envs.worlds.market import UniswapV3Market
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v3_pool import ChainUniswapV3Pool, SimUniswapV3Pool

PARAMS = V3WorldParams(flow="toy", noise_traders=2, noise_trade_usd=400_000.0)


def _worlds():
    made = {}
    for backend in ("numpy", "evm"):
        world = make_market(backend, 1, make_driver("gbm", dt=3600.0, sigma=0.8), PARAMS)
        world.reset(np.random.default_rng(7), 100_000.0)
        made[backend] = world
    return made["numpy"], made["evm"]


def test_both_sides_read_the_same_curve_and_the_same_crossings():
    sim, chain = _worlds()
    assert isinstance(sim.v3_pool, SimUniswapV3Pool) and isinstance(chain.v3_pool, ChainUniswapV3Pool)
    for _ in range(3):  # large noise swaps: ticks are crossed
        before = (sim.v3_pool.curve_point(), chain.v3_pool.curve_point())
        sim.step()
        chain.step()
        after = (sim.v3_pool.curve_point(), chain.v3_pool.curve_point())
        for a, b in zip(after[0].__dict__.values(), after[1].__dict__.values()):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        moved = [
            reserves_moved(x, y, *pool.crossed_ticks(x, y))
            for x, y, pool in zip(before, after, (sim.v3_pool, chain.v3_pool))
        ]
        np.testing.assert_allclose(moved[0], moved[1], rtol=1e-9, atol=1.0)  # the whole table or the crossed ticks
    assert sim.v3_pool.price()[0] == sim.pool_price()[0] and chain.v3_pool.tick()[0] == chain.tick()[0]
    chain.close()


def test_the_worlds_and_the_live_adapter_read_the_pool_through_the_component():
    for world in (UniswapV3World, ChainUniswapV3World, LiveUniswapV3Market):
        own = {name for cls in world.__mro__ if cls not in UniswapV3Market.__mro__ for name in vars(cls)}
        assert not own & {"pool_price", "tick", "active_liquidity", "curve_point", "crossed_ticks"}, world
    assert issubclass(LiveUniswapV3Market, ChainLP)  # which binds a ChainUniswapV3Pool
