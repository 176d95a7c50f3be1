"""defi_market_v0: PettingZoo conformance, the same play on the simulator and the real contracts, block order."""
from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from envs import defi_market_v0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_pettingzoo_parallel_api_test_passes(backend):
    parallel_api_test(defi_market_v0.parallel_env(backend=backend, horizon=12), num_cycles=15)


def test_pettingzoo_seed_and_aec_api_tests_pass():
    parallel_seed_test(lambda: defi_market_v0.parallel_env(horizon=20))
    api_test(defi_market_v0.env(horizon=8), num_cycles=10)


def _play(backend: str, steps: int = 25, **kwargs):
    env = defi_market_v0.parallel_env(backend=backend, horizon=steps, **kwargs)
    env.reset(seed=3)
    rows = []
    for t in range(steps):
        actions = {a: (4 if t == 0 else 0) if a == defi_market_v0.LP else 4 for a in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        rows.append([rewards[a] for a in env.possible_agents] + [infos[defi_market_v0.LP]["fees_usd"]])
    env.close()
    return np.array(rows)


def test_the_same_seed_and_actions_play_out_the_same_on_numpy_and_evm():
    sim, evm = _play("numpy"), _play("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[:, 1:3].sum() > 0  # the arbitrageurs made money


def test_first_in_the_block_takes_the_opportunity():
    env = defi_market_v0.parallel_env(horizon=200, order="priority")
    env.reset(seed=0)
    profit = {a: 0.0 for a in env.possible_agents[1:]}
    for _ in range(200):
        _, _, _, _, infos = env.step({a: 0 if a == defi_market_v0.LP else 4 for a in env.agents})
        for a in profit:
            profit[a] += infos[a]["profit_usd"]
    assert profit["arbitrageur_0"] > 0 and profit["arbitrageur_1"] == 0


def test_arbitrageurs_swaps_pay_the_lps_fees():
    fees = {}
    for arb_action in (0, 4):
        env = defi_market_v0.parallel_env(horizon=100, world={"noise_traders": 0})
        env.reset(seed=1)
        total = 0.0
        for t in range(100):
            actions = {a: (3 if t == 0 else 0) if a == defi_market_v0.LP else arb_action for a in env.agents}
            total += env.step(actions)[4][defi_market_v0.LP]["fees_usd"]
        fees[arb_action] = total
    assert fees[0] == 0 and fees[4] > 0


def test_bad_options_and_missing_actions_are_clear_errors():
    with pytest.raises(ValueError, match="order"):
        defi_market_v0.parallel_env(order="gas_auction")
    env = defi_market_v0.parallel_env(horizon=4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="no action for"):
        env.step({defi_market_v0.LP: 0})


def test_every_arbitrageur_is_a_slot_of_one_vec_env_trained_with_shared_parameters():
    from stable_baselines3 import PPO

    from agents.baselines import PassiveFullRange
    from agents.multi_agent import RoleVecEnv

    env = defi_market_v0.parallel_env(n_arbitrageurs=3, horizon=16)
    vec = RoleVecEnv(env, "arbitrageur", {defi_market_v0.LP: PassiveFullRange(env.lp)}, seed=0)
    assert vec.num_envs == 3 and vec.observation_space.shape == (5,)
    obs = vec.reset()
    obs, rewards, dones, infos = vec.step(np.full(3, 4))
    assert obs.shape == (3, 5) and rewards.shape == (3,) and not dones.any()
    model = PPO("MlpPolicy", vec, n_steps=16, batch_size=48, verbose=0, seed=0)
    model.learn(96)  # one policy for the three arbitrageurs, through episode ends
    with pytest.raises(ValueError, match="missing \\['liquidity_provider_0'\\]"):
        RoleVecEnv(env, "arbitrageur", {})
