"""Slippage limits on the uninformed flow and the sandwich searcher around it (V3WorldParams.slippage_bps,
V3WorldParams.sandwich_usd): a limit changes nothing while nobody trades ahead of the swap, the searcher's
take is bounded by the victims' limits (none at 0 bps, more at 50 than at 10), and the simulator and the
contracts run the same sandwiches."""

from __future__ import annotations

import numpy as np
import pytest

from envs.arrays import array_backend
from envs.drivers import make_driver
from envs.worlds.sandwich import FlowOrder, Legs
from envs.worlds.sim import UniswapV3World, V3WorldParams

FLOW = dict(fee_pips=500, noise_trade_usd=30_000.0)
SEARCHER = 2_000_000.0


class WatchedWorld(UniswapV3World):
    """A world that keeps each uninformed swap it ran: (amount in, output, minimum output), raw."""

    fills: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    def flow_legs(self, order: FlowOrder, front: np.ndarray, trial: bool, back: bool = True) -> Legs:
        """The legs as the world runs them, noting the swaps that ran (not the trials)."""
        legs = super().flow_legs(order, front, trial, back)
        if not trial:
            self.fills.append((order.raw, legs.victim_out, order.min_out))
        return legs


def run(steps: int = 24, worlds: int = 8, **options) -> tuple[WatchedWorld, list[np.ndarray], np.ndarray]:
    """``steps`` hourly steps of ``worlds`` worlds with an LP agent rebalancing once: the world, the pools'
    sqrt prices after each step, and the searcher's profit summed over the steps (USD, (worlds,))."""
    world = WatchedWorld(
        worlds, make_driver("gbm", dt=3600.0, sigma=0.8), V3WorldParams(**FLOW, **options), array_backend("numpy")
    )
    world.fills = []
    world.reset(np.random.default_rng(3), 100_000.0)
    world.rebalance(np.full(worlds, 600), np.ones(worlds, bool))
    prices, taken = [], np.zeros(worlds)
    for _ in range(steps):
        world.step()
        prices.append(np.asarray(world.state.sqrt_price).copy())
        taken += world.sandwich_profit_usd
    return world, prices, taken


def test_a_limit_nobody_trades_ahead_of_changes_nothing():
    """At 0 bps every swap is limited to its own quote, and gets it: the same trajectories as without limits."""
    plain, plain_prices, _ = run()
    limited, limited_prices, taken = run(slippage_bps=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(plain_prices, limited_prices))
    assert np.array_equal(plain.agent_fees()[0], limited.agent_fees()[0])
    assert all(np.all(out >= low) for _, out, low in limited.fills) and not taken.any()


def test_the_searchers_take_is_bounded_by_the_victims_slippage_limits():
    """Every victim gets at least its minimum; the searcher takes nothing at 0 bps and more at 50 than at 10."""
    takes = {}
    for bps in (0.0, 10.0, 50.0):
        world, _, taken = run(slippage_bps=bps, sandwich_usd=SEARCHER)
        for raw, out, low in world.fills:
            assert np.all(out[raw > 0] >= low[raw > 0])
        assert np.all(taken >= 0)
        takes[bps] = taken.sum()
    assert takes[0.0] == 0
    assert 0 < takes[10.0] < takes[50.0]


def sandwich_episode(backend: str, flow: str) -> tuple[list[float], list[float]]:
    """12 hourly steps of the LP env with the searcher around ``flow``: the agent's rewards and the searcher's wallet."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the ids)

    env = gym.make(
        "defigym/UniswapV3LP-v0",
        backend=backend,
        horizon=12,
        fee_pips=500,
        world={"flow": flow, "noise_trade_usd": 30_000.0, "slippage_bps": 50.0, "sandwich_usd": SEARCHER},
        driver_kwargs={"dt": 3600.0, "sigma": 0.8},
    )
    env.reset(seed=2)
    rewards = [env.step(2 if i == 0 else 0)[1] for i in range(12)]
    market = env.unwrapped.core.market
    market.select_lp(market.params.searcher_slot)
    wallet = [float(x[0]) for x in market.agent_wallet()]
    market.select_lp(0)
    env.close()
    return rewards, wallet


@pytest.mark.parametrize("flow", ["toy", "calibrated"])  # the calibrated flow's swaps carry price limits too
def test_the_searcher_acts_the_same_on_the_simulator_and_the_contracts(flow: str):
    (sim_rewards, sim_wallet), (evm_rewards, evm_wallet) = (
        sandwich_episode("numpy", flow),
        sandwich_episode("evm", flow),
    )
    assert np.allclose(sim_rewards, evm_rewards, atol=1e-2)
    assert np.allclose(sim_wallet, evm_wallet, rtol=1e-9)
    assert sim_wallet[0] != SEARCHER / 2  # it sandwiched
