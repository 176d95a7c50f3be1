"""The sandwich searcher agent in defi_market_v0 (envs.roles.searcher): it passes PettingZoo's API test, its
share scales the world's scripted sandwich (0 takes nothing and leaves the market as without a searcher, 1 is
the scripted searcher, the take grows with the share), its legs pay gas at the base price plus its bid, its
greedy baseline and a learner drive it, and the simulator and the contracts run the same block."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from envs import defi_market_v0

#: hourly blocks with the scripted arbitrageur after the agents, so the pool follows the reference into
#: thinner liquidity where sandwiches pay; the flow's swaps accept 50 bps less than their quote
WORLD = dict(flow="toy", noise_trade_usd=30_000.0, slippage_bps=50.0, sandwich_usd=2_000_000.0)
MARKET = dict(world=WORLD, compete=1.0, order="priority", driver_kwargs={"dt": 3600.0, "sigma": 0.8})
SEARCHER = "searcher_0"
MARKETS, BLOCKS = 8, 12


def takes(share: int | None, world: dict = WORLD) -> tuple[np.ndarray, np.ndarray]:
    """``BLOCKS`` blocks of ``MARKETS`` markets, the arbitrageurs taking the whole trade and the searcher agent
    playing ``share`` (None: no agent, the world's scripted searcher): the searcher's take per block (before
    gas) and the arbitrageurs' rewards, (BLOCKS, MARKETS) each."""
    vec = defi_market_v0.vector_env(  # a block past the loop: no reset clears the world's last take
        MARKETS, horizon=BLOCKS + 1, n_searchers=int(share is not None), **(MARKET | {"world": world})
    )
    vec.reset(seed=4)
    taken, arbitrage = [], []
    for _ in range(BLOCKS):
        actions = {a: np.full(MARKETS, 4) for a in vec.agents} | {defi_market_v0.LP: np.zeros(MARKETS, int)}
        if share is not None:
            actions[SEARCHER] = np.full(MARKETS, share)
        _, rewards, _, _, infos = vec.step(actions)
        taken.append(infos[SEARCHER]["profit_usd"] if share is not None else vec.market.sandwich_profit_usd.copy())
        arbitrage.append(rewards["arbitrageur_0"] + rewards["arbitrageur_1"])
    return np.array(taken), np.array(arbitrage)


def test_pettingzoo_parallel_api_test_passes_with_a_searcher():
    env = defi_market_v0.parallel_env(horizon=12, n_searchers=1, n_traders=1, **MARKET)
    parallel_api_test(env, num_cycles=15)


def test_share_zero_takes_nothing_and_share_one_is_the_scripted_searcher():
    """Share 0: no take, and the arbitrageurs earn what they earn without a searcher; share 1: block for block
    the scripted searcher's take on the same seed."""
    nothing, arbitrage = takes(0)
    without = takes(None, WORLD | {"sandwich_usd": 0.0})[1]
    assert not nothing.any() and np.array_equal(arbitrage, without)
    greedy, scripted = takes(4)[0], takes(None)[0]
    assert np.array_equal(greedy, scripted) and greedy.sum() > 1_000  # about $9,400 over 96 market-blocks


def test_the_take_grows_with_the_share():
    totals = [takes(share)[0].sum() for share in (1, 2, 3, 4)]
    assert np.all(np.diff(totals) > 0) and totals[0] > 0, totals


def test_a_higher_bid_costs_more_gas_on_the_same_legs():
    """Under order="random" the bid moves nothing in the block: the same legs and take, each leg paying v3_swap's
    gas at the base price plus the bid, so 4 gwei over a 10 gwei base costs 1.4 times the gas and the reward
    falls by the difference; blocks without a sandwich cost nothing either way."""
    paid = {}
    for bid in (0.0, 4.0):
        vec = defi_market_v0.vector_env(
            MARKETS,
            horizon=BLOCKS + 1,
            n_searchers=1,
            priority_fees_gwei={SEARCHER: bid},
            **(MARKET | {"order": "random"}),
        )
        vec.reset(seed=4)
        rows = []
        for _ in range(BLOCKS):
            actions = {a: np.full(MARKETS, 4) for a in vec.agents} | {defi_market_v0.LP: np.zeros(MARKETS, int)}
            _, rewards, _, _, infos = vec.step(actions)
            rows.append([infos[SEARCHER]["profit_usd"], infos[SEARCHER]["gas_usd"], rewards[SEARCHER]])
        paid[bid] = np.array(rows)  # (BLOCKS, 3, MARKETS): take, gas, reward
    (take, gas, reward), (take_bid, gas_bid, reward_bid) = paid[0.0].transpose(1, 0, 2), paid[4.0].transpose(1, 0, 2)
    assert np.array_equal(take, take_bid) and np.array_equal(gas > 0, take > 0) and (gas > 0).any()
    np.testing.assert_allclose(gas_bid, 1.4 * gas, rtol=1e-12)
    np.testing.assert_allclose(reward - reward_bid, gas_bid - gas, rtol=1e-9, atol=1e-9)
    assert np.all(reward_bid <= reward) and (reward_bid < reward).any()


def test_the_greedy_baseline_and_a_learner_drive_the_searcher():
    """The default policy of the role is the greedy baseline (always the whole bound); PPO trains on its slot."""
    from stable_baselines3 import PPO

    from agents.baselines import make_baseline
    from agents.multi_agent import DEFAULT_OTHERS, RoleVecEnv, other_policies

    env = defi_market_v0.parallel_env(horizon=16, n_searchers=1, **MARKET)
    assert DEFAULT_OTHERS["searcher"] == "baseline:greedy_searcher"
    greedy = make_baseline("greedy_searcher", env.role_of(SEARCHER))
    assert np.array_equal(greedy.predict(np.zeros((3, 9), np.float32))[0], [4, 4, 4])
    vec = RoleVecEnv(env, "searcher", other_policies(env, "searcher", {}), seed=0)
    assert vec.num_envs == 1 and vec.observation_space.shape == (9,) and vec.action_space.n == 5
    PPO("MlpPolicy", vec, n_steps=16, batch_size=16, verbose=0, seed=0).learn(32)


def play(backend: str, blocks: int = 8) -> np.ndarray:
    """``blocks`` blocks of one market, the searcher cycling through its shares: every agent's reward (the
    searcher's net of its legs' gas) and the searcher's gas and wallet, one row per block."""
    env = defi_market_v0.parallel_env(backend=backend, horizon=blocks, n_searchers=1, **MARKET)
    env.reset(seed=7)  # sandwiches in four of the blocks, at shares 0.5, 0.75 and 1
    rows = []
    for t in range(blocks):
        actions = {a: 4 for a in env.agents} | {defi_market_v0.LP: 3 if t == 0 else 0, SEARCHER: (4, 2, 0, 3)[t % 4]}
        _, rewards, _, _, infos = env.step(actions)
        rows.append([rewards[a] for a in env.possible_agents] + [infos[SEARCHER][k] for k in ("gas_usd", "wallet_usd")])
    env.close()
    return np.array(rows)


def test_the_searcher_plays_the_same_on_numpy_and_evm():
    """The same take and the same legs, so the same gas: the contracts send the sandwiches the simulator does."""
    sim, evm = play("numpy"), play("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-2)
    assert sim[:, -3].sum() > 0 and np.count_nonzero(sim[:, -2]) == 4  # it sandwiched, and paid, in four blocks


def test_the_vector_market_runs_with_a_searcher():
    vec = defi_market_v0.vector_env(num_markets=4, horizon=3, n_searchers=1, **MARKET)
    obs, _ = vec.reset(seed=0)
    assert obs[SEARCHER].shape == (4, 9) and np.allclose(obs[SEARCHER][:, 2:4], [[1.0, 0.5]] * 4, atol=0.01)
    for _ in range(3):
        obs, rewards, _, truncations, infos = vec.step({a: np.full(4, 4) for a in vec.agents})
    assert rewards[SEARCHER].shape == (4,) and truncations[SEARCHER].all()
    assert np.array_equal(infos[SEARCHER]["profit_usd"] - infos[SEARCHER]["gas_usd"], rewards[SEARCHER])
    assert "final_obs" in infos[SEARCHER]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(world={"slippage_bps": 50.0}), r"world\['sandwich_usd'\]"),
        (dict(world={"sandwich_usd": 1e6}), r"world\['slippage_bps'\]"),
        (dict(world=WORLD, n_searchers=2), "n_searchers must be 0 or 1"),
    ],
)
def test_a_searcher_without_its_world_is_a_clear_error(options: dict, match: str):
    with pytest.raises(ValueError, match=match):
        defi_market_v0.parallel_env(**({"n_searchers": 1} | options))
