"""The mempool (envs.worlds.mempool): the block's uninformed swaps are drawn before it and shown to the searcher
and the JIT provider, and the block runs exactly those; a bundle run ahead of the flow still leaves every victim
its minimum output; under order="priority" a higher bid puts the searcher's bundles earlier in the block, and
the contracts run them where the simulator does. The block producer is paid for what the block sent: each of the
searcher's legs and the JIT LP's round trips (as the world counted them) at the base gas price plus its bid, each
uninformed swap at the base price plus the flow's fee, and the accounts say so (``block_producer_usd``,
``block_flow_gas_usd``); the bids and the flow's fee are config keys of the market."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from envs import defi_market_v0
from envs.arrays import array_backend
from envs.assets.gas import action_units, units_usd
from envs.drivers import make_driver
from envs.worlds.mempool import PENDING_FEATURES, PENDING_USD_SCALE
from envs.worlds.sandwich import FlowOrder, Legs
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v3_accounts import REBALANCE_CLOSE

WORLD: dict[str, Any] = dict(
    flow="toy",
    noise_trade_usd=30_000.0,
    slippage_bps=50.0,
    sandwich_usd=2_000_000.0,
    jit_usd=1_000_000.0,
    jit_min_swap_usd=30_000.0,
)
MARKET: dict[str, Any] = dict(world=WORLD, order="priority", driver_kwargs={"dt": 3600.0, "sigma": 0.8})
#: the searcher alone around the flow (the JIT LP's liquidity leaves these blocks few sandwiches that pay)
SANDWICH_MARKET = MARKET | {"world": {k: v for k, v in WORLD.items() if not k.startswith("jit")}}
SEARCHER, JIT = "searcher_0", "jit_provider_0"
PENDING = slice(-len(PENDING_FEATURES), None)  # the pending swaps' features, last in both observations
GAS_PRICE = 10.0  # the market's base gas price (gwei), its default


def test_the_block_runs_the_swaps_its_observation_showed():
    """Each block's uninformed volume (its victims' input at the reference price) is the total the searcher and
    the JIT provider were shown before it, and the count is the world's noise traders."""
    markets = 4
    vec = defi_market_v0.vector_env(markets, horizon=8, n_searchers=1, n_jit_providers=1, compete=0.0, **MARKET)
    world = cast(UniswapV3World, vec.market)
    world.count_flow_volume = True  # read as the episode starts
    obs, _ = vec.reset(seed=5)
    for t in range(6):
        shown = obs[SEARCHER][:, PENDING]
        assert np.array_equal(shown, obs[JIT][:, PENDING])
        assert np.array_equal(shown[:, 0], np.full(markets, 2.0))  # noise_traders
        assert np.all(shown[:, 2] <= shown[:, 1]) and np.all(shown[:, 3] == 1.0)  # the flow's 1 gwei
        before = np.array(world.flow_volume_usd)
        actions = {a: np.full(markets, 4 if t % 2 else 0) for a in vec.agents}
        obs, _, _, _, infos = vec.step(actions)
        volume = np.array(world.flow_volume_usd) - before
        np.testing.assert_allclose(volume, shown[:, 1] * PENDING_USD_SCALE, rtol=1e-6)
        assert infos[SEARCHER]["bundle_position"].tolist() == [len(vec.agents)] * markets  # with the flow


class WatchedWorld(UniswapV3World):
    """A world that keeps each uninformed swap it ran: (amount in, output, minimum output), raw."""

    fills: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    def flow_legs(self, order: FlowOrder, front: np.ndarray, trial: bool, back: bool = True) -> Legs:
        legs = super().flow_legs(order, front, trial, back)
        if not trial:
            self.fills.append((order.raw, legs.victim_out, order.min_out))
        return legs


def test_a_bundle_ahead_of_the_flow_leaves_each_victim_its_minimum_and_runs_each_swap_once():
    """Half the worlds run their pending swaps early (a bundle), the rest with the flow: every swap runs once,
    in its world, and gets at least its minimum output though the searcher sandwiches it."""
    worlds = 8
    world = WatchedWorld(
        worlds,
        make_driver("gbm", dt=3600.0, sigma=0.8),
        V3WorldParams(fee_pips=500, noise_trade_usd=30_000.0, slippage_bps=50.0, sandwich_usd=2_000_000.0),
        array_backend("numpy"),
    )
    world.fills = []
    world.reset(np.random.default_rng(3), 100_000.0)
    world.rebalance(np.full(worlds, 600), np.ones(worlds, bool))
    taken = np.zeros(worlds)
    early = np.arange(worlds) % 2 == 0
    for _ in range(12):
        world.move_reference()
        world.draw_pending()
        assert world.pending is not None
        drawn = world.pending.raw.copy()
        world.execute_pending(early)
        world.arbitrage()  # between the bundles and the rest of the flow
        world.noise()
        ran = sum(raw for raw, _, _ in world.fills[-drawn.shape[1] * 2 :])
        assert np.array_equal(ran, drawn.sum(axis=1))
        taken += world.sandwich_profit_usd
    for raw, out, low in world.fills:
        assert np.all(out[raw > 0] >= low[raw > 0])
    assert taken[early].sum() > 0 and np.all(taken >= 0)


class CountedWorld(UniswapV3World):
    """A world that keeps, per uninformed swap it ran, where the searcher front-ran it."""

    fronts: list[np.ndarray]

    def flow_legs(self, order: FlowOrder, front: np.ndarray, trial: bool, back: bool = True) -> Legs:
        if not trial:
            self.fronts.append(front > 0)
        return super().flow_legs(order, front, trial, back)


def test_the_world_counts_the_legs_and_round_trips_it_sends_each_block():
    """``sandwich_legs``: two for each swap the searcher front-ran in the block; ``jit_round_trips``: one for each
    pending swap worth ``jit_min_swap_usd`` or more where the JIT LP's share is positive. Both count the block's
    own (a block the searcher sits out counts no leg), in a world without an LP agent."""
    worlds = 8
    params = V3WorldParams(
        fee_pips=500,
        lps=0,
        noise_trade_usd=30_000.0,
        slippage_bps=50.0,
        sandwich_usd=2_000_000.0,
        jit_usd=300_000.0,
        jit_min_swap_usd=30_000.0,
    )
    world = CountedWorld(worlds, make_driver("gbm", dt=3600.0, sigma=0.8), params, array_backend("numpy"))
    world.reset(np.random.default_rng(3))
    world.jit_share = (np.arange(worlds) % 2).astype(float)  # the JIT LP in the odd worlds
    legs_sent, trips_sent = np.zeros(worlds), np.zeros(worlds)
    for block in range(12):
        world.sandwich_share = 0.0 if block % 3 == 2 else 1.0
        world.move_reference()
        world.draw_pending()
        pending = world.pending
        assert pending is not None
        world.fronts = []
        world.arbitrage()
        world.noise()
        np.testing.assert_array_equal(world.sandwich_legs, 2 * np.sum(world.fronts, axis=0))
        if block % 3 == 2:
            assert not world.sandwich_legs.any()
        large = np.sum((pending.raw > 0) & (pending.usd >= params.jit_min_swap_usd), axis=1)
        np.testing.assert_array_equal(world.jit_round_trips, np.where(world.jit_share > 0, large, 0))
        legs_sent += world.sandwich_legs
        trips_sent += world.jit_round_trips
    assert np.count_nonzero(legs_sent) >= 2 and np.all(trips_sent[1::2] > 0)


def bundle_positions(fees: dict[str, float], backend: str = "numpy", blocks: int = 8) -> tuple[np.ndarray, ...]:
    """``blocks`` blocks of one market, every agent at its largest action: where the searcher's bundles ran in
    each block, and one row per block of every agent's rewards, the searcher's wallet and gas, and what the
    agents and the flow paid the block producer."""
    env = defi_market_v0.parallel_env(
        backend=backend, horizon=blocks, n_searchers=1, compete=1.0, priority_fees_gwei=fees, **SANDWICH_MARKET
    )
    env.reset(seed=7)
    positions, rows = [], []
    for t in range(blocks):
        actions = {a: 4 for a in env.agents} | {defi_market_v0.LP: 3 if t == 0 else 0}
        _, rewards, _, _, infos = env.step(actions)
        positions.append(infos[SEARCHER]["bundle_position"])
        paid = [infos[SEARCHER][k] for k in ("wallet_usd", "gas_usd", "block_producer_usd", "block_flow_gas_usd")]
        rows.append([rewards[a] for a in env.possible_agents] + paid)
    env.close()
    return np.array(positions), np.array(rows)


def test_a_higher_bid_puts_the_bundle_earlier():
    """Order: LP, arbitrageur_0 (2 gwei), arbitrageur_1 (1 gwei), liquidator, searcher. Bidding nothing the
    searcher's bundles ride with the flow (position 5, after every agent); 1.5 gwei puts them before
    arbitrageur_1 (position 2), 3 gwei before arbitrageur_0 (position 1), and the arbitrageurs then trade on the
    pool the victims moved, so their rewards change."""
    arbitrageurs = {"arbitrageur_0": 2.0, "arbitrageur_1": 1.0}
    positions, rewards = {}, {}
    for bid in (0.0, 1.5, 3.0):
        positions[bid], rewards[bid] = bundle_positions(arbitrageurs | {SEARCHER: bid})
    assert [positions[bid][0] for bid in (0.0, 1.5, 3.0)] == [5.0, 2.0, 1.0]
    assert all(np.all(p == p[0]) for p in positions.values())
    arbitrage = slice(1, 3)  # the arbitrageurs' columns (possible_agents: LP, arbitrageur_0, arbitrageur_1, ...)
    assert not np.array_equal(rewards[0.0][:, arbitrage], rewards[3.0][:, arbitrage])
    assert rewards[3.0][:, -5].sum() > 1_000  # the searcher still takes, net of its legs' gas (about $1,300)


def test_bundles_ahead_of_the_agents_play_the_same_on_numpy_and_evm():
    """The same positions, rewards, legs and so gas on the contracts as on the simulator."""
    fees = {"arbitrageur_0": 2.0, "arbitrageur_1": 1.0, SEARCHER: 1.5}
    (sim_positions, sim), (evm_positions, evm) = bundle_positions(fees), bundle_positions(fees, "evm")
    assert np.array_equal(sim_positions, evm_positions)
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-2)
    assert np.count_nonzero(sim[:, -3]) >= 2 and np.all(sim[:, -1] > 0)  # the searcher and the flow paid gas


def paying_blocks(fees: dict[str, float], flow_fee: float, markets: int = 8, blocks: int = 8) -> list[dict]:
    """``blocks`` blocks of ``markets`` markets with the searcher and the JIT LP (at its whole capital in the
    odd markets, out in the even ones), every other agent at its largest action, the flow bidding ``flow_fee``:
    per block the reference price the block traded at, the pending swaps shown before it, rewards and infos."""
    world = WORLD | {"flow_priority_fee_gwei": flow_fee}
    vec = defi_market_v0.vector_env(
        markets,
        horizon=blocks + 1,
        n_searchers=1,
        n_jit_providers=1,
        compete=1.0,
        priority_fees_gwei=fees,
        **(MARKET | {"world": world}),
    )
    obs, _ = vec.reset(seed=5)
    rows = []
    for _ in range(blocks):
        reference, pending = vec.market.reference_price().copy(), obs[SEARCHER][:, PENDING][:, 0].astype(float)
        actions = {a: np.full(markets, 4) for a in vec.agents} | {JIT: np.arange(markets) % 2 * 4}
        obs, rewards, _, _, infos = vec.step(actions)
        rows.append(dict(reference=reference, pending=pending, rewards=rewards, infos=infos))
    return rows


def test_the_searcher_and_the_jit_lp_pay_gas_on_what_the_block_sent():
    """The searcher pays v3_swap's gas at the base price plus its bid on each leg the block ran (two a sandwich,
    none where it took nothing) and the JIT LP a mint and a close on each round trip (one around each swap it
    ranged: none where it stayed out or earned no fee); their rewards are net of it."""
    fees = {SEARCHER: 2.0, JIT: 0.5}
    leg, trip = action_units("v3_swap"), action_units("v3_mint", *REBALANCE_CLOSE)
    legs_sent, trips_sent = [], []
    for row in paying_blocks(fees, flow_fee=1.0):
        searcher, jit, reference = row["infos"][SEARCHER], row["infos"][JIT], row["reference"]
        legs = searcher["gas_usd"] / units_usd(leg, GAS_PRICE + fees[SEARCHER], reference)
        trips = jit["gas_usd"] / units_usd(trip, GAS_PRICE + fees[JIT], reference)
        np.testing.assert_allclose(legs, np.round(legs), atol=1e-9)
        np.testing.assert_allclose(trips, np.round(trips), atol=1e-9)
        legs, trips = np.round(legs), np.round(trips)
        assert np.all(legs % 2 == 0) and np.all(legs <= 2 * row["pending"]) and np.all(trips <= row["pending"])
        assert np.array_equal(legs > 0, searcher["profit_usd"] > 0)  # it sandwiched where it took
        assert np.array_equal(trips > 0, jit["fees_usd"] > 0) and not trips[::2].any()  # share 0: no round trip
        np.testing.assert_array_equal(row["rewards"][SEARCHER], searcher["profit_usd"] - searcher["gas_usd"])
        np.testing.assert_array_equal(row["rewards"][JIT], jit["profit_usd"] - jit["gas_usd"])
        legs_sent.append(legs)
        trips_sent.append(trips)
    assert 0 < np.count_nonzero(legs_sent) < np.size(legs_sent)  # blocks with and without sandwiches
    assert 0 < np.count_nonzero(trips_sent) < np.size(trips_sent) and np.max(trips_sent) >= 2


def test_the_block_producer_is_paid_what_the_agents_and_the_flow_paid():
    """Per block and market: ``block_producer_usd`` is the sum of every agent's gas (the searcher's legs and the
    JIT LP's round trips among them) and ``block_flow_gas_usd`` each pending swap's v3_swap at the base price
    plus the flow's fee; a higher flow fee pays the producer more."""
    fees = {"arbitrageur_0": 2.0, "arbitrageur_1": 1.0, SEARCHER: 3.0, JIT: 0.5}
    flow_paid: dict[float, list[np.ndarray]] = {}
    steering_paid = np.zeros(2)  # what the searcher and the JIT LP paid in all
    for flow_fee in (1.0, 4.0):
        flow_paid[flow_fee] = []
        for row in paying_blocks(fees, flow_fee):
            infos = row["infos"]
            agents = sum(info["gas_usd"] for info in infos.values())
            for info in infos.values():
                np.testing.assert_allclose(info["block_producer_usd"], agents, rtol=1e-12, atol=1e-12)
            flow = row["pending"] * units_usd(action_units("v3_swap"), GAS_PRICE + flow_fee, row["reference"])
            np.testing.assert_allclose(infos[SEARCHER]["block_flow_gas_usd"], flow, rtol=1e-12)
            assert np.all(flow > 0)
            flow_paid[flow_fee].append(infos[SEARCHER]["block_flow_gas_usd"])
            steering_paid += [infos[SEARCHER]["gas_usd"].sum(), infos[JIT]["gas_usd"].sum()]
    assert np.all(steering_paid > 20)  # both in the producer's take: leaving either out breaks the sum
    np.testing.assert_allclose(np.array(flow_paid[4.0]) / np.array(flow_paid[1.0]), (GAS_PRICE + 4) / (GAS_PRICE + 1))


def test_the_bids_are_config_keys_of_the_market():
    """env.priority_fees_gwei and env.flow_priority_fee_gwei reach the env (their refusals are in
    tests/test_config_validation.py)."""
    from agents.config import check, env_kwargs
    from tests.configs import SANDWICH, config

    cfg = config(*SANDWICH.split(), "+env.priority_fees_gwei.searcher_0=3", "env.flow_priority_fee_gwei=2")
    check(cfg)
    kwargs = env_kwargs(cfg, [0.0, 0.7])
    assert kwargs["priority_fees_gwei"] == {"searcher_0": 3.0} and kwargs["world"]["flow_priority_fee_gwei"] == 2.0
    env = defi_market_v0.parallel_env(**(kwargs | {"horizon": 2}))
    assert env.core.priority_fees[SEARCHER] == 3.0 and env.market.params.flow_priority_fee_gwei == 2.0
    env.close()


def lp_fees_with_bids(bids: dict[str, float]) -> tuple[np.ndarray, str | None, list[np.ndarray]]:
    """The LP's fees over 12 blocks of two markets, the searcher sandwiching from block 1 under priority order
    with ``bids``: (the LP's fees_usd summed, the agent the bundles go before, the searcher's bundle_position)."""
    world = dict(flow="toy", noise_trade_usd=100_000.0, slippage_bps=50.0, sandwich_usd=2_000_000.0)
    vec = defi_market_v0.vector_env(
        2, horizon=12, n_searchers=1, order="priority", world=world, priority_fees_gwei=bids,
        driver_kwargs={"dt": 3600.0, "sigma": 0.8},
    )  # fmt: skip
    vec.reset(seed=[3, 4])
    fees, positions = np.zeros(2), []
    for block in range(12):
        actions = {a: np.zeros(2, int) for a in vec.agents} | {
            "liquidity_provider_0": np.full(2, 3 if block == 0 else 0),
            "arbitrageur_0": np.full(2, 4),
            "searcher_0": np.array([0, 0]) if block == 0 else np.array([4, 0 if block % 2 else 4]),
        }
        _, _, _, _, infos = vec.step(actions)
        fees += infos["liquidity_provider_0"]["fees_usd"]
        positions.append(infos["searcher_0"]["bundle_position"])
    before = vec.core.bundle_before
    vec.close()
    return fees, before, positions


def test_the_lps_fees_count_the_swaps_a_bundle_ran_ahead_of_its_turn():
    """A bundle placed before the LP runs the flow's swaps ahead of the LP's transaction: their fees are the LP's
    all the same, so its fees_usd is the same whether the searcher outbids it or not (the pool's history is)."""
    ahead, first, positions = lp_fees_with_bids({"searcher_0": 3.0})
    behind, second, _ = lp_fees_with_bids({"searcher_0": 3.0, "liquidity_provider_0": 5.0})
    assert first == "liquidity_provider_0" and second != first
    assert np.all(ahead > 10.0) and np.allclose(ahead, behind, rtol=1e-9)
    # odd blocks: the second market's searcher sat out, its swaps waited for the flow after every agent
    agents = len(
        defi_market_v0.parallel_env(n_searchers=1, world={"sandwich_usd": 1.0, "slippage_bps": 50.0}).possible_agents
    )
    assert positions[1][1] == agents and positions[1][0] < agents and positions[2][1] == positions[1][0]


@pytest.mark.parametrize("base", [0.0, GAS_PRICE])
def test_a_bid_is_paid_on_the_gas_units_used_whatever_the_base_fee(base):
    """An agent pays (base + its bid) on each gas unit it used, at a zero base fee too (its bid alone); an agent
    that sends nothing pays nothing, whatever it bid."""
    bids = {"arbitrageur_0": 2.0, "arbitrageur_1": 7.0}
    env = defi_market_v0.parallel_env(
        gas_price_gwei=base, order="priority", priority_fees_gwei=bids, driver_kwargs={"dt": 3600.0, "sigma": 0.8}
    )
    env.reset(seed=3)
    paid = []
    for _ in range(6):
        reference = float(env.market.reference_price()[0])
        actions = {a: 0 for a in env.agents} | {"arbitrageur_0": 4}  # the second bids and sits out
        _, _, _, _, infos = env.step(actions)
        arbitrageur, idle = infos["arbitrageur_0"], infos["arbitrageur_1"]
        assert arbitrageur["gas_usd"] == pytest.approx(units_usd(action_units("v3_swap"), base + 2.0, reference))
        assert idle["gas_usd"] == 0.0
        paid.append(arbitrageur["gas_usd"])
    env.close()
    assert min(paid) > 0
