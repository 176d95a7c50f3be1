"""The mempool (envs.worlds.mempool): the block's uninformed swaps are drawn before it and shown to the searcher
and the JIT provider, and the block runs exactly those; a bundle run ahead of the flow still leaves every victim
its minimum output; under order="priority" a higher bid puts the searcher's bundles earlier in the block, and
the contracts run them where the simulator does."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from envs import defi_market_v0
from envs.arrays import array_backend
from envs.drivers import make_driver
from envs.worlds.mempool import PENDING_FEATURES, PENDING_USD_SCALE
from envs.worlds.sandwich import FlowOrder, Legs
from envs.worlds.sim import UniswapV3World, V3WorldParams

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


def bundle_positions(fees: dict[str, float], backend: str = "numpy", blocks: int = 8) -> tuple[np.ndarray, ...]:
    """``blocks`` blocks of one market, every agent at its largest action: where the searcher's bundles ran in
    each block, every agent's rewards and the searcher's wallet."""
    env = defi_market_v0.parallel_env(
        backend=backend, horizon=blocks, n_searchers=1, compete=1.0, priority_fees_gwei=fees, **SANDWICH_MARKET
    )
    env.reset(seed=7)
    positions, rows = [], []
    for t in range(blocks):
        actions = {a: 4 for a in env.agents} | {defi_market_v0.LP: 3 if t == 0 else 0}
        _, rewards, _, _, infos = env.step(actions)
        positions.append(infos[SEARCHER]["bundle_position"])
        rows.append([rewards[a] for a in env.possible_agents] + [infos[SEARCHER]["wallet_usd"]])
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
    assert rewards[3.0][:, -2].sum() > 1_000  # the searcher still takes (about $1,300 over the 8 blocks)


def test_bundles_ahead_of_the_agents_play_the_same_on_numpy_and_evm():
    fees = {"arbitrageur_0": 2.0, "arbitrageur_1": 1.0, SEARCHER: 1.5}
    (sim_positions, sim), (evm_positions, evm) = bundle_positions(fees), bundle_positions(fees, "evm")
    assert np.array_equal(sim_positions, evm_positions)
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-2)
