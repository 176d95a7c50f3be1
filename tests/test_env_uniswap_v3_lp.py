"""defigym/UniswapV3LP-v0 on every backend: cross-backend trajectories, seeding, errors."""

from __future__ import annotations

import doctest

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from agents.baselines import LP_BASELINES, make_baseline
from agents.vec_env import SB3VecEnv
from envs import uniswap_v3_lp
from envs.roles.liquidity_provider import LiquidityProvider

ID = "defigym/UniswapV3LP-v0"


def _trajectory(backend: str, actions, seed: int = 3, **kwargs):
    env = gym.make(ID, backend=backend, horizon=len(actions), **kwargs)
    obs, _ = env.reset(seed=seed)
    rows = [np.concatenate([obs, [0.0, 0.0, 0.0]])]
    for a in actions:
        obs, reward, _, _, info = env.step(a)
        rows.append(np.concatenate([obs, [reward, info["fees_usd"], info["value_usd"]]]))
    env.close()
    return np.array(rows)


def test_same_seed_and_actions_give_the_same_trajectory_on_numpy_and_evm():
    actions = [4, 0, 0, 0, 2, 0, 0, 0, 0, 8, 0, 0, 3, 0, 0, 0]
    kwargs = dict(world={"noise_trade_usd": 50_000.0}, gas_price_gwei=20.0)
    sim, evm = _trajectory("numpy", actions, **kwargs), _trajectory("evm", actions, **kwargs)
    # observations are float32; values and fees are USD: agree to a cent on $100,000
    np.testing.assert_allclose(evm[:, :9], sim[:, :9], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(evm[:, 9:], sim[:, 9:], rtol=1e-9, atol=0.01)
    assert evm[:, 10].sum() > 1.0  # the position really earned fees


@pytest.mark.anvil
def test_a_short_episode_runs_on_anvil_and_matches_the_simulator():
    actions = [3, 0, 0, 5, 0, 0]
    anvil, sim = _trajectory("anvil", actions), _trajectory("numpy", actions)
    np.testing.assert_allclose(anvil[:, 9:], sim[:, 9:], rtol=1e-9, atol=0.01)


def test_reset_with_a_seed_restarts_the_same_price_path():
    env = gym.make(ID, horizon=10, driver="jump_diffusion")
    runs = []
    for _ in range(2):
        env.reset(seed=11)
        runs.append([env.step(1 if t == 0 else 0)[1] for t in range(10)])
    assert runs[0] == runs[1]
    env.reset(seed=12)
    assert [env.step(1 if t == 0 else 0)[1] for t in range(10)] != runs[0]


def test_vector_env_worlds_step_like_the_single_env():
    single = _trajectory("numpy", [2, 0, 0, 0], seed=5)
    vec = gym.make_vec(ID, num_envs=1, vectorization_mode="vector_entry_point", horizon=4)
    obs, _ = vec.reset(seed=5)
    rewards = [vec.step(np.array([a]))[1][0] for a in [2, 0, 0, 0]]
    np.testing.assert_allclose(rewards, single[1:, 9], rtol=1e-12)


def test_vector_env_ends_every_world_at_the_horizon_and_resets_them():
    vec = gym.make_vec(ID, num_envs=8, vectorization_mode="vector_entry_point", horizon=3)
    vec.reset(seed=0)
    for t in range(3):
        obs, _, terminated, truncated, info = vec.step(np.zeros(8, np.int64))
    assert truncated.all() and not terminated.any()
    assert (info["final_obs"][:, 8] == 1.0).all() and (obs[:, 8] == 0.0).all()


def test_sb3_vec_env_hands_over_terminal_observations():
    vec = SB3VecEnv(uniswap_v3_lp.UniswapV3LPVectorEnv(num_envs=4, horizon=2))
    vec.seed(0)
    vec.reset()
    vec.step(np.zeros(4, np.int64))
    _, rewards, dones, infos = vec.step(np.zeros(4, np.int64))
    assert dones.all() and rewards.dtype == np.float32
    assert all(info["TimeLimit.truncated"] and info["terminal_observation"].shape == (9,) for info in infos)


@pytest.mark.parametrize("name", sorted(LP_BASELINES))
def test_baselines_act_in_the_action_space(name):
    vec = uniswap_v3_lp.UniswapV3LPVectorEnv(num_envs=16, horizon=24)
    policy = make_baseline(name, vec.role)
    obs, _ = vec.reset(seed=0)
    for _ in range(24):
        actions, _ = policy.predict(obs)
        assert all(vec.single_action_space.contains(int(a)) for a in actions)
        obs, *_ = vec.step(actions)


def test_passive_lp_opens_once_and_recentering_lp_follows_the_price():
    vec = uniswap_v3_lp.UniswapV3LPVectorEnv(num_envs=32, horizon=200, driver_kwargs={"sigma": 1.5})
    counts = {}
    for name in ("passive_lp", "recentering_lp"):
        policy, rebalances = make_baseline(name, vec.role), 0
        obs, _ = vec.reset(seed=1)
        for _ in range(199):
            actions, _ = policy.predict(obs)
            rebalances += int((actions > 0).sum())
            obs, *_ = vec.step(actions)
        counts[name] = rebalances
    assert counts["passive_lp"] == 32
    assert counts["recentering_lp"] > 2 * 32


@pytest.mark.parametrize("action", [np.nan, -1, 9, 2.5])
def test_bad_actions_are_clear_errors(action):
    env = gym.make(ID, horizon=4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(action)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backend": "jax"}, "unknown backend"),
        ({"driver": "brownian"}, "unknown price driver"),
        ({"fee_pips": 2500}, "not a fee tier"),
        ({"horizon": 0}, "horizon"),
        ({"reward": "sharpe"}, "reward must be"),
        ({"action_type": "multi"}, "action_type"),
        ({"agent_usd": -5}, "agent_usd"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        gym.make(ID, **kwargs)


def test_vector_env_refuses_the_chain_backends_and_unknown_options():
    with pytest.raises(ValueError, match="single env for evm"):
        uniswap_v3_lp.UniswapV3LPVectorEnv(num_envs=2, backend="evm")
    with pytest.raises(TypeError, match="unknown arguments"):
        uniswap_v3_lp.UniswapV3LPVectorEnv(num_envs=2, horizn=5)


def test_the_docstring_example_runs():
    assert doctest.testmod(uniswap_v3_lp, raise_on_error=True).attempted >= 1


def _closing_trajectory(backend: str):
    env = gym.make(ID, backend=backend, horizon=8, allow_close=True, driver_kwargs={"dt": 3600.0, "sigma": 0.8})
    obs, _ = env.reset(seed=2)
    close = env.action_space.n - 1
    rows = []
    for action in (3, 0, close, 0, 0, 4, close, 0):
        obs, reward, _, _, info = env.step(action)
        rows.append(np.concatenate([obs, [reward, info["gas_usd"], info["value_usd"]]]))
    env.close()
    return np.array(rows)


def test_the_close_action_withdraws_the_position_to_the_wallet_on_every_backend():
    sim, evm = _closing_trajectory("numpy"), _closing_trajectory("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=0.01)
    assert sim[1, 2] > 0 and sim[2, 2] == 0 and sim[4, 2] == 0  # a range, then none after closing
    assert sim[2, -2] > 0 and sim[3, -2] == 0  # closing paid gas; holding nothing paid none
    assert gym.make(ID, allow_close=True).action_space.n == len(LiquidityProvider().half_widths) + 2
