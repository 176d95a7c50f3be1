"""Every world is a ``World``: the order of its own step, its start and its clock are written once, whatever the
pool it trades and the backend it runs on; a world only gives its pool's flows, its start and its price path."""

from __future__ import annotations

from abc import ABC

import numpy as np
import pytest

from envs.drivers import make_driver
from envs.worlds.chain_v2 import ChainUniswapV2World
from envs.worlds.chain_world import ChainUniswapV3World
from envs.worlds.forked_sim import ForkedStartWorld
from envs.worlds.lending import LendingParams
from envs.worlds.reference_path import ReferencePath
from envs.worlds.replay_world import ReplayWorld
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.sim_v2 import UniswapV2World
from envs.worlds.world import World

WORLDS = (UniswapV3World, ChainUniswapV3World, ForkedStartWorld, ReplayWorld, UniswapV2World, ChainUniswapV2World)


def test_every_world_is_a_world_and_writes_no_order_of_its_own():
    for world in WORLDS:
        assert issubclass(world, World), world
        names = ("reset", "move_reference", "step", "move_path", "reference_price")
        written = {name for name in names if getattr(world, name) is not getattr(World, name)}
        # the chain world re-sends the forked chain's own blocks first, then runs the World's step; a replay's
        # reference is the recorded swaps' price, which its flow sets, not a path's step
        expected = {ChainUniswapV3World: {"step"}, ReplayWorld: {"move_path"}}.get(world, set())
        assert written == expected, (world, written)


def test_a_path_started_at_a_pool_price_keeps_the_drivers_returns():
    """Every world's reference is a ``ReferencePath``: an attached market's, or a pool read from a chain, starts at
    the pool's own price (``start_at``), each world scaled by its own constant, and moves by the driver's returns."""
    drawn, scaled = ReferencePath(make_driver("gbm")), ReferencePath(make_driver("gbm"))
    start = drawn.reset(np.random.default_rng(0), 3).copy()
    scaled.reset(np.random.default_rng(0), 3)
    pools = np.array([1000.0, 2000.0, 3000.0])
    scaled.start_at(pools)
    np.testing.assert_allclose(scaled.now, pools, rtol=1e-15)
    for _ in range(5):
        drawn.step()
        scaled.step()
    assert (drawn.now != start).all()
    np.testing.assert_allclose(scaled.now / pools, drawn.now / start, rtol=1e-12)


def test_no_world_inherits_a_class_by_two_paths():
    """A world holds its chain (``ChainSite``) and its components instead of inheriting them: no world class, nor the
    live adapter's market, reaches an ancestor through two of its bases (a diamond)."""
    from agents.live.market import LiveAaveMarket

    for world in (*WORLDS, LiveAaveMarket):
        for cls in world.__mro__:
            lines = [set(base.__mro__) - {object, ABC} for base in cls.__bases__]
            for i, line in enumerate(lines):
                for other in lines[i + 1 :]:
                    assert not line & other, (world, cls, line & other)


@pytest.mark.parametrize("lending", [None, LendingParams(borrowers=2, calibration="none")])
def test_the_clock_and_the_lending_side_move_a_step_with_the_reference(lending):
    world = UniswapV3World(3, make_driver("gbm", dt=600.0), V3WorldParams(lps=0), "numpy", lending)
    world.reset(np.random.default_rng(0))
    clock, reference = world.clock.copy(), world.reference_price()
    world.step()
    np.testing.assert_array_equal(world.clock, clock + 600.0)
    assert (world.reference_price() != reference).all()
    if lending is not None:  # its oracle follows the reference, to its 8 decimals
        np.testing.assert_allclose(world.lending.oracle_price(), world.reference_price(), rtol=1e-8)


def test_a_v2_world_funds_its_lp_agent_and_keeps_a_clock():
    world = UniswapV2World(2, make_driver("gbm", dt=60.0))
    with pytest.raises(ValueError, match="agent_usd"):
        world.reset(np.random.default_rng(0))
    world.reset(np.random.default_rng(0), 100_000.0)
    world.step()
    np.testing.assert_array_equal(world.clock, np.full(2, 60.0))
    assert world.lending is None


def test_a_chain_world_names_each_wallet_in_one_table():
    """Every named wallet of a chain world, V3 or V2, resolves through ``WALLET_ACCOUNTS``; the LP agent's name is
    the selected LP slot's where the world has one; an unknown name is refused."""
    from envs.contracts.accounts import AGENT, ARBITRAGEUR, ARBITRAGEUR_AGENT, BORROWER_AGENT, NOISE
    from envs.contracts.fork import chain_factory
    from envs.worlds.chain_site import WALLET_ACCOUNTS, wallet_account

    assert set(WALLET_ACCOUNTS.values()) == {AGENT, ARBITRAGEUR, ARBITRAGEUR_AGENT, BORROWER_AGENT, NOISE}
    with pytest.raises(ValueError, match="unknown wallet 'nobody'"):
        wallet_account("nobody")
    for lps in (0, 1):
        world = ChainUniswapV3World(chain_factory("evm", None, None), make_driver("gbm"), V3WorldParams(lps=lps))
        for name in set(WALLET_ACCOUNTS) - {"agent"}:
            assert world._address(name) == WALLET_ACCOUNTS[name]
        if lps:
            assert world._address("agent") == world.slot_address(0) == AGENT
        else:
            with pytest.raises(ValueError, match="LP agent's"):
                world._address("agent")
        world.close()


def test_a_world_holds_any_registered_lending_protocol_by_name():
    """The lending protocols are one table (``PROTOCOLS``): a world picks its component by ``lending.protocol``; a
    name not in it is refused, naming the ones there are."""
    from envs.worlds.lending_pool import LendingPool
    from envs.worlds.lending_protocols import PROTOCOLS

    assert set(PROTOCOLS) == {"aave_v3", "morpho_blue"}
    for name, protocol in PROTOCOLS.items():
        params = LendingParams(borrowers=2, calibration="none", protocol=name)
        world = UniswapV3World(2, make_driver("gbm"), V3WorldParams(lps=0), "numpy", params)
        world.reset(np.random.default_rng(1))
        world.step()
        assert isinstance(world.lending.pool, LendingPool)
        assert type(world.lending.pool) is type(protocol.sim(2, params, world.b))
        assert (world.lending.position(1).collateral_weth > 0).all()  # the scripted borrowers opened positions
    with pytest.raises(
        ValueError,
        match=r"unknown lending protocol 'compound_v3' \(env.lending.protocol\); choose one of \['aave_v3', 'morpho_blue'\]",
    ):
        LendingParams(protocol="compound_v3")


@pytest.mark.parametrize("protocol", ["aave_v3", "morpho_blue"])
def test_a_lending_side_beside_a_v2_pair_plays_the_same_on_the_simulator_and_the_bytecode(protocol):
    """A world's protocols are what it holds: a lending pool beside a V2 pair, as beside a V3 pool. Through a 25%
    crash the scripted liquidator liquidates and sells the seized WETH into the pair; the batched pair and lending
    pool and the real Router02, pair and lending contracts agree step by step."""
    from envs.contracts.fork import chain_factory
    from envs.drivers.scenario import ScenarioDriver, crash
    from envs.worlds.chain_v2 import ChainUniswapV2World

    params = LendingParams(borrowers=3, calibration="none", borrower_usd=2_000_000.0, protocol=protocol)
    path = crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=4)
    sim = UniswapV2World(1, ScenarioDriver(path), lending=params)
    chain = ChainUniswapV2World(chain_factory("evm", None, None), ScenarioDriver(path), lending=params)
    for world in (sim, chain):
        world.reset(np.random.default_rng(3), 100_000.0)
    liquidations = 0
    collateral = sim.lending.account_positions().collateral_weth
    for _ in range(len(path) - 1):
        for world in (sim, chain):
            world.step()
        a, b = sim.lending.account_positions(), chain.lending.account_positions()
        # to 1e-6, as the Aave envs: with calibration=none the chain's blocks are 12 s apart, and interest on them
        np.testing.assert_allclose(a.collateral_weth, b.collateral_weth, rtol=1e-6)
        np.testing.assert_allclose(a.debt_base, b.debt_base, rtol=1e-6, atol=1e3)
        np.testing.assert_allclose(sim.reserves(), chain.reserves(), rtol=1e-6)  # the seized WETH sold alike
        liquidations += int((a.collateral_weth < collateral).sum())  # a scripted borrower's collateral seized
        collateral = a.collateral_weth
    assert liquidations > 0, "the crash should have liquidated a borrower, its WETH sold into the pair"
    assert sim.lending.world is sim and chain.lending.world is chain
    chain.close()


def test_a_world_holds_two_lending_markets_beside_its_pool_alike_on_the_simulator_and_the_bytecode():
    """A market is its pool and the list of components beside it: Aave V3 and Morpho Blue together beside one V3
    pool. Through a 25% crash both scripted liquidators liquidate and sell into the same pool, and the batched
    world and the real contracts agree step by step; the lending roles act on the first side."""
    from envs.contracts.fork import chain_factory
    from envs.drivers.scenario import ScenarioDriver, crash

    sides = [
        LendingParams(borrowers=2, calibration="none", borrower_usd=2_000_000.0, protocol=protocol)
        for protocol in ("aave_v3", "morpho_blue")
    ]
    path = crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=3)
    params = V3WorldParams(lps=0, flow="toy")
    sim = UniswapV3World(1, ScenarioDriver(path), params, "numpy", sides)
    chain = ChainUniswapV3World(chain_factory("evm", None, None), ScenarioDriver(path), params, lending=sides)
    for world in (sim, chain):
        world.reset(np.random.default_rng(5))
        assert [side.params.protocol for side in world.components] == ["aave_v3", "morpho_blue"]
        assert world.lending is world.components[0]
    start = [side.account_positions().collateral_weth for side in sim.components]
    for _ in range(len(path) - 1):
        for world in (sim, chain):
            world.step()
        for a, b in zip(sim.components, chain.components):
            np.testing.assert_allclose(
                a.account_positions().collateral_weth, b.account_positions().collateral_weth, rtol=1e-6
            )
        np.testing.assert_allclose(sim.pool_price(), chain.pool_price(), rtol=1e-6)
    for side, before in zip(sim.components, start):  # each market's crash liquidated one of its borrowers
        assert (side.account_positions().collateral_weth < before).any(), side.params.protocol
    with pytest.raises(ValueError, match="one market per lending protocol"):
        UniswapV3World(1, make_driver("gbm"), params, "numpy", [sides[0], sides[0]])
    chain.close()


def test_a_world_holds_a_v2_pair_beside_its_v3_pool_and_two_lending_markets_alike_on_the_simulator_and_the_bytecode():
    """A market of four protocols is a list of components: a V2 pair beside the V3 pool, Aave V3 and Morpho Blue
    beside both. Through a 25% crash the liquidators dump into the V3 pool while the pair's own arbitrageur keeps it
    near the reference: two venues on one price part, alike on the batched world and on the real contracts."""
    from envs.contracts.fork import chain_factory
    from envs.drivers.scenario import ScenarioDriver, crash
    from envs.worlds.v2_pair_side import UniswapV2PairSide

    sides = [
        LendingParams(borrowers=2, calibration="none", borrower_usd=2_000_000.0, protocol=protocol)
        for protocol in ("aave_v3", "morpho_blue")
    ]
    path = crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=3)
    params = V3WorldParams(lps=0, flow="toy", v2_pair_usd=4_000_000.0)
    sim = UniswapV3World(1, ScenarioDriver(path), params, "numpy", sides)
    chain = ChainUniswapV3World(chain_factory("evm", None, None), ScenarioDriver(path), params, lending=sides)
    for world in (sim, chain):
        world.reset(np.random.default_rng(5))
        assert [type(c).__name__ for c in world.components] == ["UniswapV2PairSide", "LendingMarket", "LendingMarket"]
        assert world.lending is world.components[1]  # the lending roles act on the first lending side
    pair, chain_pair = sim.components[0], chain.components[0]
    assert isinstance(pair, UniswapV2PairSide) and isinstance(chain_pair, UniswapV2PairSide)
    np.testing.assert_allclose(pair.pair.reserves(), chain_pair.pair.reserves(), rtol=1e-9)  # seeded alike
    parted = 0.0
    for _ in range(len(path) - 1):
        for world in (sim, chain):
            world.step()
        np.testing.assert_allclose(pair.pair.reserves(), chain_pair.pair.reserves(), rtol=1e-9)
        np.testing.assert_allclose(sim.pool_price(), chain.pool_price(), rtol=1e-6)
        reference = sim.reference_price()
        assert abs(np.log(pair.price() / reference)[0]) < 0.02  # its arbitrageur keeps it by the reference
        parted = max(parted, abs(np.log(sim.pool_price() / pair.price())[0]))
    assert parted > 0.2, "the liquidators' sales should have parted the V3 pool from the pair"
    chain.close()


@pytest.mark.parametrize("own", ["v3_pool", "v2_pair"])
def test_a_v3_pool_beside_either_pool_agrees_on_the_simulator_and_the_bytecode(own):
    """A V3 pool is a component beside either pool a world is built around: a 0.3% pool beside a 0.05% one (with
    Aave V3, whose liquidators dump into the world's own pool through a 25% crash), and a 0.05% pool beside a V2 pair.
    Its liquidity is laid as the built market mints it, its arbitrageur keeps it by the reference, and it moves alike
    on the batched world and on the real contracts."""
    from envs.contracts.fork import chain_factory
    from envs.drivers.scenario import ScenarioDriver, crash
    from envs.worlds.v2_market import V2WorldParams
    from envs.worlds.v3_pool_side import UniswapV3PoolSide

    path = crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=3)
    worlds: tuple[World, World]
    if own == "v3_pool":
        side = LendingParams(borrowers=2, calibration="none", borrower_usd=2_000_000.0)
        params = V3WorldParams(lps=0, flow="toy", v3_pool_beside_usd=60_000_000.0, v3_pool_beside_fee_pips=3000)
        worlds = (
            UniswapV3World(1, ScenarioDriver(path), params, "numpy", side),
            ChainUniswapV3World(chain_factory("evm", None, None), ScenarioDriver(path), params, lending=side),
        )
        kinds, tier = ["UniswapV3PoolSide", "LendingMarket"], 3000
    else:
        pair = V2WorldParams(v3_pool_beside_usd=60_000_000.0)
        worlds = (
            UniswapV2World(1, ScenarioDriver(path), pair, "numpy"),
            ChainUniswapV2World(chain_factory("evm", None, None), ScenarioDriver(path), pair),
        )
        kinds, tier = ["UniswapV3PoolSide"], 500
    for world in worlds:
        world.reset(np.random.default_rng(5), None if own == "v3_pool" else 100_000.0)
        assert [type(c).__name__ for c in world.components] == kinds
    sim, chain = worlds[0].components[0], worlds[1].components[0]
    assert isinstance(sim, UniswapV3PoolSide) and isinstance(chain, UniswapV3PoolSide)
    assert chain.pool.pool.call("fee") == tier  # the built market's pool of that tier
    for read in ("sqrt_price", "tick", "liquidity"):  # laid alike
        np.testing.assert_allclose(getattr(sim.pool, read)(), getattr(chain.pool, read)(), rtol=1e-12)
    moved, parted, gap = 0.0, 0.0, 0.0
    start = sim.price()
    for _ in range(len(path) - 1):
        for world in worlds:
            world.step()
        np.testing.assert_allclose(sim.pool.sqrt_price(), chain.pool.sqrt_price(), rtol=1e-9)
        np.testing.assert_allclose(sim.pool.liquidity(), chain.pool.liquidity(), rtol=1e-9)
        np.testing.assert_allclose(worlds[0].pool_price(), worlds[1].pool_price(), rtol=1e-6)
        reference = worlds[0].reference_price()
        gap = max(gap, abs(np.log(sim.price() / reference)[0]))
        moved = max(moved, abs(np.log(sim.price() / start)[0]))
        parted = max(parted, abs(np.log(worlds[0].pool_price() / sim.price())[0]))
    assert moved > 0.2, "the pool beside should have followed the crash"
    assert gap < 0.05, "its arbitrageur should keep it within its band and a block's noise of the reference"
    if own == "v3_pool":
        assert parted > 0.1, "the liquidators' sales should have parted the world's pool from the pool beside"
    worlds[1].close()


def _routing_world(backend: str, path, route: bool = True) -> World:
    from envs.contracts.fork import chain_factory
    from envs.drivers.scenario import ScenarioDriver

    params = V3WorldParams(lps=0, flow="toy", v2_pair_usd=4_000_000.0)
    side = LendingParams(borrowers=2, calibration="none", borrower_usd=2_000_000.0, route=route)
    if backend == "numpy":
        return UniswapV3World(1, ScenarioDriver(path), params, "numpy", side)
    return ChainUniswapV3World(chain_factory("evm", None, None), ScenarioDriver(path), params, lending=side)


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_a_lending_side_that_routes_sells_where_it_is_paid_the_most(backend):
    """With ``route``, each of the lending side's swaps goes to the pool beside the world's own that quotes it the
    most, and gets what it was quoted: the learning liquidator's WETH, sold with a V3 pool 5% below the reference,
    goes to the V2 pair (on a chain through Router02, which its account is approved for), and once the pair is the
    cheaper venue the scripted liquidator's goes to the V3 pool; the other venue is left as it was."""
    from envs.assets.gas import gas_units
    from envs.units import Q96, WETH_UNIT
    from envs.worlds.lending import AGENT_LIQUIDATOR, COMPETITOR
    from envs.worlds.market import ARBITRAGEUR_WALLET

    world = _routing_world(backend, [2000.0] * 4)
    world.reset(np.random.default_rng(5))
    lending, pair = world.lending, world.components[0]
    one, weth = np.ones(1, bool), np.zeros(1, bool)
    below = np.floor(world.v3_pool.sqrt_price() / np.sqrt(0.95) * Q96) / Q96  # 5% cheaper WETH in the V3 pool
    world.trade("arbitrage", ARBITRAGEUR_WALLET, weth, np.array([np.inf]), below, one)
    sale = np.array([10.0 * WETH_UNIT])
    quoted, sqrt_before = pair.quote(AGENT_LIQUIDATOR, weth, sale, one), world.v3_pool.sqrt_price()
    paid, got = lending.swap(AGENT_LIQUIDATOR, weth, sale, one)  # the learning liquidator's sale
    assert got[0] == quoted[0] and paid[0] == sale[0] and (world.v3_pool.sqrt_price() == sqrt_before).all()
    assert lending.swap_units[0] == gas_units()["v2_swap"]  # its gas is the pair's swap's
    pair.trade("arbitrage", ARBITRAGEUR_WALLET, weth, np.array([2_000.0 * WETH_UNIT]), mask=one)  # the pair crashes
    reserves, quoted = pair.pair.reserves(), world.quote(COMPETITOR, weth, sale, one)
    paid, got = lending.swap(COMPETITOR, weth, sale, one)
    assert got[0] == quoted[0] and (world.v3_pool.sqrt_price() > sqrt_before).all()
    np.testing.assert_array_equal(pair.pair.reserves(), reserves)
    assert lending.swap_units[0] == gas_units()["v3_swap"]
    if backend == "evm":
        world.close()


def test_routing_keeps_the_liquidators_sales_off_a_crashed_pool_alike_on_the_simulator_and_the_bytecode():
    """Through a 25% crash, the liquidators who route sell part of what they seize into the V2 pair: the world's V3
    pool parts less from the pair than when every sale goes into it, and the batched world and the real contracts
    agree."""
    from envs.drivers.scenario import crash

    path = crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=3)
    sim, chain, alone = _routing_world("numpy", path), _routing_world("evm", path), _routing_world("numpy", path, False)
    parted = {"route": 0.0, "alone": 0.0}
    for world in (sim, chain, alone):
        world.reset(np.random.default_rng(5))
    for _ in range(len(path) - 1):
        for world in (sim, chain, alone):
            world.step()
        np.testing.assert_allclose(sim.pool_price(), chain.pool_price(), rtol=1e-6)
        np.testing.assert_allclose(sim.components[0].pair.reserves(), chain.components[0].pair.reserves(), rtol=1e-9)
        for name, world in (("route", sim), ("alone", alone)):
            parted[name] = max(parted[name], abs(np.log(world.pool_price() / world.components[0].price())[0]))
    assert parted["alone"] > 0.3 and parted["route"] < parted["alone"] - 0.05, parted
    chain.close()
    with pytest.raises(ValueError, match="lending.route='yes' must be true or false"):
        LendingParams(route="yes")  # type: ignore[arg-type]  # as a config may give it


def test_a_lending_side_beside_a_v2_pair_routes_into_the_v3_pool_beside_it_alike_on_both_backends():
    """Routing is the lending side's, whatever pool its world is built around: beside a V2 pair, some of the
    liquidators' sales through a crash go into the V3 pool beside the pair (its path differs from the run that does
    not route), alike on the batched world and on the real contracts (the lending traders approved for its router)."""
    from envs.contracts.fork import chain_factory
    from envs.drivers.scenario import ScenarioDriver, crash
    from envs.worlds.v2_market import V2WorldParams

    path = crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=3)
    pair = V2WorldParams(v3_pool_beside_usd=20_000_000.0)

    def side(route: bool) -> LendingParams:
        return LendingParams(borrowers=2, calibration="none", borrower_usd=1_000_000.0, route=route)

    sim = UniswapV2World(1, ScenarioDriver(path), pair, "numpy", side(True))
    chain = ChainUniswapV2World(chain_factory("evm", None, None), ScenarioDriver(path), pair, lending=side(True))
    alone = UniswapV2World(1, ScenarioDriver(path), pair, "numpy", side(False))
    for world in (sim, chain, alone):
        world.reset(np.random.default_rng(5), 100_000.0)
    apart = 0.0
    for _ in range(len(path) - 1):
        for world in (sim, chain, alone):
            world.step()
        np.testing.assert_allclose(sim.pool_price(), chain.pool_price(), rtol=1e-9)
        np.testing.assert_allclose(sim.components[0].price(), chain.components[0].price(), rtol=1e-9)
        apart = max(apart, abs(np.log(sim.components[0].price() / alone.components[0].price())[0]))
    assert apart > 0.01, "no liquidator's sale went into the V3 pool beside the pair"
    chain.close()


@pytest.mark.parametrize("own", ["v3_pool", "v2_pair"])
def test_every_lending_trader_may_route_through_the_pool_beside_on_a_chain(own):
    """On a chain, the accounts a lending side swaps from (the learning liquidator's, the borrower agent's) are
    approved for the router of the pool beside where the side routes: with the world's own pool the worse venue, each
    one's sale goes through the pool beside (a V2 pair beside a V3 pool, a V3 pool beside a V2 pair), at the gas of a
    swap there."""
    from envs.assets.gas import gas_units
    from envs.contracts.accounts import BORROWER_AGENT
    from envs.contracts.fork import chain_factory
    from envs.units import Q96, WETH_UNIT
    from envs.worlds.lending import AGENT_LIQUIDATOR, BORROWER
    from envs.worlds.market import ARBITRAGEUR_WALLET
    from envs.worlds.v2_market import V2WorldParams

    side, one, weth = LendingParams(borrowers=0, calibration="none", route=True), np.ones(1, bool), np.zeros(1, bool)
    world: ChainUniswapV3World | ChainUniswapV2World
    if own == "v3_pool":
        world = ChainUniswapV3World(
            chain_factory("evm", None, None),
            make_driver("gbm"),
            V3WorldParams(lps=0, flow="toy", v2_pair_usd=4_000_000.0),
            lending=side,
        )
        world.reset(np.random.default_rng(5))
        below = np.floor(world.v3_pool.sqrt_price() / np.sqrt(0.95) * Q96) / Q96
        world.trade("arbitrage", ARBITRAGEUR_WALLET, weth, np.array([np.inf]), below, one)
        swap = "v2_swap"
    else:
        world = ChainUniswapV2World(
            chain_factory("evm", None, None), make_driver("gbm"), V2WorldParams(v3_pool_beside_usd=20e6), lending=side
        )
        world.reset(np.random.default_rng(5), 100_000.0)
        world.trade("arbitrage", ARBITRAGEUR_WALLET, weth, np.array([300.0 * WETH_UNIT]), mask=one)
        swap = "v3_swap"
    world.site.credit(world.weth, BORROWER_AGENT, 20 * 10**18)
    lending, beside = world.lending, world.components[0]
    assert lending is not None
    for who in (AGENT_LIQUIDATOR, BORROWER):
        own_price, beside_price = world.pool_price(), beside.price()
        _, got = lending.swap(who, weth, np.array([1.0 * WETH_UNIT]), one)
        assert got[0] > 0 and (beside.price() < beside_price).all(), who
        np.testing.assert_array_equal(world.pool_price(), own_price)
        assert lending.swap_units[0] == gas_units()[swap]
    world.close()


def test_the_readmes_routing_config_builds_a_liquidator_that_routes():
    """The README's command line for routing composes, passes the config check and gives the env's lending side
    ``route`` beside the pair it asks for."""
    from agents.config import env_kwargs, env_spec, validate
    from tests.configs import config

    cfg = config("env=aave_liquidator", "env.v2_pair_usd=3000000", "+env.lending.route=true", "env.horizon=2")
    validate(cfg)
    made = env_spec(cfg).classes()[0](backend="numpy", **env_kwargs(cfg))
    made.reset(seed=0)
    world = made.core.market
    assert world.lending.params.route and [type(p).__name__ for p in world.pools_beside] == ["UniswapV2PairSide"]
    made.close()


V3_POOL_ENVS = ["uniswap_v3_lp", "cex_dex_arbitrage", "aave_leverage", "aave_liquidator", "morpho_blue_leverage"]


@pytest.mark.parametrize(
    "env, key",
    [(env, "v2_pair_usd=3000000") for env in [*V3_POOL_ENVS, "defi_market"]]
    + [(env, "v3_pool_beside_usd=30000000") for env in [*V3_POOL_ENVS, "defi_market", "uniswap_v2_lp"]],
)
def test_every_pool_env_trades_the_pool_it_is_given_beside_its_own(env, key):
    """``env.v2_pair_usd`` puts a V2 pair, ``env.v3_pool_beside_usd`` a V3 pool of another tier, beside the pool of
    every env whose world holds one (the V3 pool beside the V2 LP's pair too), and every env's block trades it (an
    env that writes its own block order calls ``World.pools_beside_trade``): the key is never taken and left
    idle."""
    from agents.config import env_kwargs, env_spec, validate
    from tests.configs import config

    cfg = config(f"env={env}", f"env.{key}", "env.horizon=6")
    validate(cfg)
    spec = env_spec(cfg)
    made = spec.classes()[0](backend="numpy", **env_kwargs(cfg))
    made.reset(seed=1)
    world = made.core.market
    beside = world.components[0]
    pool = beside.pair if key.startswith("v2") else beside.pool
    seeded = pool.reserves()[0] if key.startswith("v2") else pool.sqrt_price()
    for _ in range(3):
        if spec.role is None:
            made.step({agent: made.action_space(agent).sample() for agent in made.agents})
        else:
            made.step(made.action_space.sample())
    now = pool.reserves()[0] if key.startswith("v2") else pool.sqrt_price()
    assert (now != seeded).all(), f"{env}'s block never traded the pool beside its own"
    assert abs(np.log(beside.price() / world.reference_price())[0]) < 0.02
    made.close()


def test_a_pair_beside_the_pool_is_refused_where_it_cannot_be_built():
    """The pair is seeded in a market of our own: an attached fork's market is refused before a chain starts,
    naming the key, as a negative value is."""

    def no_chain():
        raise AssertionError("the refusal should come before a chain starts")

    with pytest.raises(ValueError, match="env.v2_pair_usd .* backend.market=attach"):
        ChainUniswapV3World(no_chain, make_driver("gbm"), V3WorldParams(v2_pair_usd=1e6), book={"name": "ethereum"})
    with pytest.raises(ValueError, match="v2_pair_usd=-1.0 must be non-negative"):
        V3WorldParams(v2_pair_usd=-1.0)


def test_a_v3_pool_beside_is_refused_where_it_cannot_be_built():
    """The pool beside is minted in a market of our own, at a tier of its own: an attached fork's market, the world's
    own tier, a tier Uniswap V3 lacks and a negative value are refused, each naming the key."""
    from envs.contracts.market import MarketSpec
    from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE
    from envs.worlds.v2_market import V2WorldParams

    def no_chain():
        raise AssertionError("the refusal should come before a chain starts")

    attached = {"name": "ethereum"}
    with pytest.raises(ValueError, match="env.v3_pool_beside_usd .* backend.market=attach"):
        ChainUniswapV3World(no_chain, make_driver("gbm"), V3WorldParams(v3_pool_beside_usd=1e6), book=attached)
    with pytest.raises(ValueError, match="env.v3_pool_beside_usd .* backend.market=attach"):
        ChainUniswapV2World(no_chain, make_driver("gbm"), V2WorldParams(v3_pool_beside_usd=1e6), book=attached)
    with pytest.raises(ValueError, match="v3_pool_beside_fee_pips=500 is the pool's own tier"):
        V3WorldParams(fee_pips=500, v3_pool_beside_usd=1e6, v3_pool_beside_fee_pips=500)
    with pytest.raises(ValueError, match="v3_pool_beside_fee_pips=250 is not a fee tier"):
        V2WorldParams(v3_pool_beside_usd=1e6, v3_pool_beside_fee_pips=250)
    for params in (V3WorldParams, V2WorldParams):
        with pytest.raises(ValueError, match="v3_pool_beside_usd=-1.0 must be non-negative"):
            params(v3_pool_beside_usd=-1.0)
    laid = V3WorldParams(v3_pool_beside_usd=1e6).v3_pool_beside()
    assert laid is not None and laid.liquidity_profile == DEFAULT_LIQUIDITY_PROFILE  # its own LPs, not the pool's
    with pytest.raises(ValueError, match="names fee tier 3000, which v3_fee_tiers"):
        MarketSpec(v3_fee_tiers=(500,), v3_pools_laid=((3000, 1e6, DEFAULT_LIQUIDITY_PROFILE),))
    with pytest.raises(ValueError, match="value must be positive, got 0.0"):
        MarketSpec(v3_fee_tiers=(500, 3000), v3_pools_laid=((3000, 0.0, DEFAULT_LIQUIDITY_PROFILE),))


def test_a_recipe_records_the_pools_beside_an_envs_own():
    """What an export records its policy was trained beside: the pools the env config puts beside the world's own."""
    from envs import SPECS

    lp, v2 = SPECS["defigym/UniswapV3LP-v0"].world, SPECS["defigym/UniswapV2LP-v0"].world
    assert lp.protocols({})["beside"] == []
    both = lp.protocols({"v2_pair_usd": 1e6, "v3_pool_beside_usd": 2e6})
    assert both == {"pool": "uniswap_v3", "beside": ["uniswap_v2", "uniswap_v3"], "lending": None}
    assert v2.protocols({"v3_pool_beside_usd": 2e6})["beside"] == ["uniswap_v3"]


def test_every_env_runs_in_the_world_its_spec_names():
    """Each spec names what its env's world is made of (``EnvSpec.world``): the pool its world is built around, and
    whether it holds a lending side; the env builds exactly that world from it."""
    from envs import SPECS
    from envs.defi_market_v0 import Markets
    from envs.worlds.make import UNISWAP_V3, WITH_LENDING
    from envs.worlds.market import UniswapV3Market
    from envs.worlds.v2_market import UniswapV2Market

    for spec in SPECS.values():
        if spec.role is None:
            world = Markets(2, horizon=2).market
        else:
            world = spec.classes()[1](num_envs=2, horizon=2).core.market
        assert isinstance(world, UniswapV3Market if spec.world.pool == UNISWAP_V3 else UniswapV2Market), spec.id
        assert (world.lending is not None) == (spec.world.lending == WITH_LENDING), spec.id
        if world.lending is not None:
            assert world.lending.params.protocol == spec.world.protocols({})["lending"], spec.id


def test_a_lending_side_the_world_cannot_take_is_refused_naming_the_fix():
    """Whether a world holds a lending side is its recipe's to say, read by the env and the config check alike: a
    role that acts on one refuses ``protocol=none`` (it used to pass the config check and fail in the protocol
    table); an env whose world may hold none takes it."""
    import gymnasium as gym

    from agents.config import validate
    from envs.aave_leverage import WORLD
    from envs.morpho_blue_leverage import WORLD as MORPHO_WORLD
    from envs.uniswap_v2_lp import WORLD as V2_WORLD
    from tests.configs import config

    fix = "set env.lending.protocol=aave_v3 or morpho_blue \\(this env acts on a lending market\\)"
    with pytest.raises(ValueError, match=fix):
        gym.make("defigym/AaveLeverage-v0", lending={"protocol": "none"})
    with pytest.raises(ValueError, match=fix):  # the env's config names more keys: the same fix
        validate(config("env=aave_leverage", "env.lending.protocol=none"))
    with pytest.raises(ValueError, match="set env.lending.protocol=morpho_blue \\(this env"):
        MORPHO_WORLD.lending_side({"protocol": "none"})
    with pytest.raises(ValueError, match="holds a lending market of morpho_blue"):  # refused by the check, not later
        validate(config("env=morpho_blue_leverage", "env.lending.protocol=aave_v3"))
    assert V2_WORLD.lending_side({"protocol": "none"}) is None and V2_WORLD.lending_side(None) is None
    assert MORPHO_WORLD.lending_side(None).protocol == "morpho_blue"  # its default, from its recipe
    hash(WORLD), hash(MORPHO_WORLD)  # a spec's recipe hashes (its defaults are read-only, out of the hash)
    with pytest.raises(TypeError):
        MORPHO_WORLD.lending_defaults["protocol"] = "aave_v3"  # type: ignore[index]
