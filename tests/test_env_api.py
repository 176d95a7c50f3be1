"""Every registered defigym env passes Gymnasium's env checker on numpy and on evm, and
stable-baselines3's: the list comes from the registry, so a new env is checked as soon as it exists."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)

#: small episodes of each env (and a market with few scripted borrowers, to keep the evm rung quick)
QUICK = {
    "defigym/UniswapV3LP-v0": {"horizon": 16, "initial_half_width": 200},
    "defigym/UniswapV2LP-v0": {"horizon": 8},
    "defigym/CexDexArbitrage-v0": {"horizon": 12},
    "defigym/AaveLeverage-v0": {"horizon": 6, "lending": {"borrowers": 3}},
    "defigym/AaveLiquidator-v0": {"horizon": 6, "lending": {"borrowers": 3}},
    "defigym/MorphoBlueLeverage-v0": {"horizon": 6, "lending": {"borrowers": 3}},
}
IDS = sorted(i for i in gym.registry if i.startswith("defigym/"))


def test_every_registered_env_has_quick_settings_here():
    assert IDS == sorted(QUICK)


@pytest.mark.filterwarnings("ignore:.*Box observation space.*")
@pytest.mark.parametrize("backend", ["numpy", "evm"])
@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_env_checker_passes(env_id, backend):
    env = gym.make(env_id, backend=backend, **QUICK[env_id])
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_stable_baselines3_env_checker_passes(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(gym.make(env_id, **QUICK[env_id]).unwrapped)
