"""The Uniswap V3 pool's reads are a component with two sides: the simulator's batched state and the real pool on
a chain read the same curve, and the chain side is what the chain worlds and the live adapter both read."""

from __future__ import annotations

import numpy as np

from agents.live.market import LiveUniswapV3Market
from envs.drivers import make_driver
from envs.worlds.block_accounting import reserves_moved
from envs.worlds.chain_world import ChainUniswapV3World
from envs.worlds.make import make_market
from envs.worlds.market import UniswapV3Market
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v3_accounts import UniswapV3Accounts
from envs.worlds.v3_pool import ChainUniswapV3Pool, SimUniswapV3Pool
from envs.worlds.world import World

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


def test_both_sides_swap_mint_collect_and_withdraw_alike_through_the_interface():
    """Call for call on the component alone: a position minted, swaps through it (one tried and undone, one up to a
    price limit), its fees, and its withdrawal give the same amounts on the batched pool and on the bytecode."""
    sim, chain = _worlds()
    pools = (sim.v3_pool, chain.v3_pool)
    one, sell, buy = np.ones(1, bool), np.ones(1, bool), np.zeros(1, bool)
    tick = int(sim.tick()[0])
    lower, upper = np.array([(tick // 60 - 10) * 60]), np.array([(tick // 60 + 10) * 60])
    minted = [pool.mint(0, lower, upper, np.array([20_000e6]), np.array([8e18]), one) for pool in pools]
    np.testing.assert_allclose(minted[0], minted[1], rtol=1e-9)
    assert min(minted[0][0][0], minted[0][1][0]) > 0  # both tokens: the range holds the price
    for got in zip(*(pool.position(0) for pool in pools)):
        np.testing.assert_allclose(got[0], got[1], rtol=1e-12)

    for pool in pools:  # a trial swap leaves the pool as it was
        before = pool.curve_point()
        with pool.trial():
            pool.swap("noise", sell, np.array([500_000e6]), None, one)
            assert pool.sqrt_price()[0] < before.sqrt_price[0]
        assert pool.sqrt_price()[0] == before.sqrt_price[0] and pool.liquidity()[0] == before.liquidity[0]

    swaps = [pool.swap("noise", sell, np.array([300_000e6]), None, one) for pool in pools]
    np.testing.assert_allclose(swaps[0], swaps[1], rtol=1e-9)
    limit = sim.v3_pool.sqrt_price() * 1.002  # WETH in raises the sqrt price: the swap stops there
    swaps = [pool.swap("noise", buy, np.array([1e24]), limit, one) for pool in pools]
    np.testing.assert_allclose(swaps[0], swaps[1], rtol=1e-9)
    assert swaps[0][0][0] < 1e24 and abs(sim.v3_pool.sqrt_price()[0] / limit[0] - 1) < 1e-12
    np.testing.assert_allclose(sim.v3_pool.sqrt_price(), chain.v3_pool.sqrt_price(), rtol=1e-12)

    fees = [pool.fees_owed(0) for pool in pools]
    np.testing.assert_allclose(fees[0], fees[1], rtol=1e-9, atol=1.0)  # the batched pool's owed is not yet floored
    assert fees[0][0][0] > 0 and fees[0][1][0] > 0
    np.testing.assert_allclose(pools[0].position_tokens(0), pools[1].position_tokens(0), rtol=1e-9)
    withdrawn = [pool.withdraw(0, one) for pool in pools]
    assert withdrawn[0][0][0] and withdrawn[1][0][0]
    np.testing.assert_allclose(withdrawn[0][1:], withdrawn[1][1:], rtol=1e-9)
    assert all(pool.position(0)[2][0] == 0 and not pool.withdraw(0, one)[0][0] for pool in pools)
    for pool in pools:  # too little for any liquidity: refused, nothing used
        used = pool.mint(0, lower, upper, np.zeros(1), np.zeros(1), one)
        assert used[0][0] == used[1][0] == 0 and pool.position(0)[2][0] == 0
    chain.close()


def test_the_chain_side_swaps_no_more_than_the_wallet_holds():
    _, chain = _worlds()
    usdc, _ = chain.wallet_raw(0)
    paid, got = chain.v3_pool.swap(0, np.ones(1, bool), usdc * 10, None, np.ones(1, bool))
    assert paid[0] == usdc[0] and got[0] > 0 and chain.wallet_raw(0)[0][0] == 0
    chain.close()


def test_the_market_trades_and_manages_positions_once_for_every_backend():
    """The arbitrage, the flow and its sandwich, and the LP's position are written once over the component: no
    world or live adapter keeps its own copy."""
    once = {
        "arbitrage",
        "agent_arbitrage",
        "flow_legs",
        "order_limit",
        "rebalance",
        "close_position",
        "exchange_to_range",
        "agent_range",
        "agent_fees",
        "agent_position_tokens",
        "swap",
    }
    for world in (UniswapV3World, ChainUniswapV3World, LiveUniswapV3Market):
        own = {name for cls in world.__mro__ if cls not in UniswapV3Market.__mro__ for name in vars(cls)}
        assert not own & once, (world, own & once)


def test_a_live_market_holds_the_accounts_and_nothing_scripted():
    """The live adapter's market is the agent's accounts on the pool bound to the chain: it neither inherits the
    scripted market (arbitrage, flow, episodes) nor refuses its methods."""
    assert issubclass(LiveUniswapV3Market, UniswapV3Accounts) and not issubclass(LiveUniswapV3Market, UniswapV3Market)
    scripted = {name for cls in (UniswapV3Market, World) for name in vars(cls) if not name.startswith("__")} - set(
        vars(UniswapV3Accounts)
    )
    assert {"reset", "step", "move_reference", "arbitrage", "noise", "agent_arbitrage", "flow_swap"} <= scripted
    assert not any(hasattr(LiveUniswapV3Market, name) for name in scripted)
    assert issubclass(ChainUniswapV3World, UniswapV3Market)
