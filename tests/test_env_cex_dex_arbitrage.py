"""defigym/CexDexArbitrage-v0: the same trajectory on the simulator and the real pool, competition."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from agents.baselines import GreedyArbitrageur
from envs.cex_dex_arbitrage import CexDexArbitrageVectorEnv

ID = "defigym/CexDexArbitrage-v0"


def _run(backend: str, steps: int = 40, seed: int = 4):
    env = gym.make(ID, backend=backend, horizon=steps, compete=0.3)
    policy = GreedyArbitrageur(env.unwrapped.role)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(steps):
        obs, reward, _, _, info = env.step(int(policy.predict(obs)[0]))
        rows.append([reward, info["profit_usd"], info["traded"], info["beaten"]])
    env.close()
    return np.array(rows)


def test_the_simulator_and_the_real_pool_give_the_same_arbitrage_trajectory():
    sim, evm = _run("numpy"), _run("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[:, 2].sum() >= 5 and sim[:, 1].sum() > 0  # it really traded, at a profit


@pytest.mark.anvil
def test_a_short_episode_runs_on_anvil_and_matches_the_simulator():
    np.testing.assert_allclose(_run("anvil", steps=4), _run("numpy", steps=4), rtol=1e-9, atol=1e-6)


def test_a_beaten_attempt_earns_nothing_and_still_pays_gas():
    vec = CexDexArbitrageVectorEnv(num_envs=256, horizon=20, compete=1.0)
    vec.reset(seed=0)
    _, reward, _, _, info = vec.step(np.full(256, 4))
    assert (info["beaten"] == 1).all() and (info["profit_usd"] == 0).all()
    assert (reward == -info["gas_usd"]).all() and (info["gas_usd"] > 0).all()


def test_arbitraging_beats_skipping_and_competition_takes_a_share():
    totals = {}
    for compete in (0.0, 0.8):
        vec = CexDexArbitrageVectorEnv(num_envs=128, horizon=100, compete=compete)
        policy = GreedyArbitrageur(vec.role)
        obs, _ = vec.reset(seed=2)
        total = np.zeros(128)
        for _ in range(100):
            obs, reward, *_ = vec.step(policy.predict(obs)[0])
            total += reward
        totals[compete] = total.mean()
    assert totals[0.0] > totals[0.8] > 0


def test_vector_env_worlds_step_like_the_single_env():
    single = _run("numpy", steps=10, seed=9)
    vec = CexDexArbitrageVectorEnv(num_envs=1, horizon=10)
    obs, _ = vec.reset(seed=9)
    policy, rewards = GreedyArbitrageur(vec.role), []
    for _ in range(10):
        obs, reward, *_ = vec.step(policy.predict(obs)[0])
        rewards.append(reward[0])
    np.testing.assert_allclose(rewards, single[:, 0], rtol=1e-12)


@pytest.mark.parametrize("action", [np.nan, -1, 5, 1.5])
def test_bad_actions_are_clear_errors(action):
    env = gym.make(ID, horizon=4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(action)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"compete": 1.5}, "compete"),
        ({"backend": "jax"}, "unknown backend"),
        ({"fractions": (0.0, 2.0)}, "fractions"),
        ({"horizon": 0}, "horizon"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ID, **kwargs)
