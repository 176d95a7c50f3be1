"""agent=ppo_device: the on-device PPO trains through train.py, its checkpoint exports to the same ONNX
actions, it learns, and its rollout never copies to the host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.device_env import HostBoundaryEnv, TorchCartPole
from agents.ppo_device import DevicePPO, PPOParams

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "agent=ppo_device",
    "env.horizon=12",
    "train.num_envs=8",
    "train.eval_episodes=4",
    "train.eval_freq=128",
    "train.total_timesteps=256",
    "agent.params.n_steps=16",
    "agent.params.n_epochs=2",
    "train.progress_bar=false",
    "train.evaluate_after=false",
]


def train(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ppo_device")
    result = train(*TINY, "backend=torch", "device=cpu", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_train_py_saves_checkpoint_normalization_metadata_and_logs(run_dir: Path):
    for name in (
        "model.zip",
        "vecnormalize.pkl",
        "model.meta.json",
        "best_model.zip",
        "best_vecnormalize.pkl",
        "best_model.meta.json",
        "train_metrics.json",
    ):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tb" / "ppo_device_1").iterdir())
    meta = json.loads((run_dir / "model.meta.json").read_text())
    assert meta["trainer"] == "ppo_device" and meta["algo"] == "ppo" and meta["normalize"] is True
    assert meta["env_id"] == "defigym/UniswapV3LP-v0" and meta["role"] == "liquidity_provider"
    assert meta["timesteps"] == 256 and meta["config_sha256"]
    metrics = json.loads((run_dir / "train_metrics.json").read_text())
    assert metrics["algo"] == "ppo_device" and metrics["device"] == "cpu" and "best_validation_reward" in metrics


def test_the_torch_policy_sb3_and_the_onnx_export_take_the_same_actions(run_dir: Path, tmp_path):
    from agents.export import export
    from agents.onnx_policy import OnnxPolicy
    from agents.policy import TrainedPolicy
    from envs.uniswap_v3_lp import UniswapV3LPVectorEnv

    env = HostBoundaryEnv(UniswapV3LPVectorEnv(num_envs=16, backend="torch", device="cpu", horizon=12), "cpu")
    ppo = DevicePPO(env, PPOParams(n_steps=16, n_epochs=2))
    ppo.load(run_dir / "model.zip", run_dir / "vecnormalize.pkl")
    obs = env.reset(seed=5)
    for _ in range(4):  # observations with positions open, at several widths
        obs, *_ = env.step(torch.randint(0, env.single_action_space.n, (16,)))
    torch_actions = ppo.agent.mode(ppo.normalizer.observation(obs)).numpy()
    manifest = export(run_dir / "model.zip", tmp_path)
    assert json.loads(manifest.read_text())["role"] == "liquidity_provider"
    np.testing.assert_array_equal(OnnxPolicy(manifest).predict(obs.numpy())[0], torch_actions)
    np.testing.assert_array_equal(TrainedPolicy(run_dir / "model.zip").predict(obs.numpy())[0], torch_actions)


@pytest.fixture
def one_thread():
    """One torch thread, as train.py runs (on a shared 2-core box two threads only contend)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ppo_learns_cartpole(one_thread):
    ppo = DevicePPO(TorchCartPole(64), PPOParams(n_steps=64, n_epochs=10, learning_rate=1e-3), seed=0)
    returns: list[float] = []
    ppo.learn(6 * 64 * 64, lambda _, logs: returns.append(logs["rollout/ep_rew_mean"]))
    assert returns[0] < 40 and returns[-1] > 80, returns  # a random policy balances ~22 steps


class DeviceChecked:
    """A ``TorchCartPole`` that fails unless every action it gets is a tensor on its device, and checks
    that what it returns is too."""

    def __init__(self, env: TorchCartPole):
        self.env, self.calls = env, 0
        self.num_envs, self.device = env.num_envs, env.device
        self.single_observation_space, self.single_action_space = env.single_observation_space, env.single_action_space

    def reset(self, seed=None):
        return self.env.reset(seed)

    def step(self, actions):
        assert isinstance(actions, torch.Tensor) and actions.device == self.device
        out = self.env.step(actions)
        assert all(isinstance(x, torch.Tensor) and x.device == self.device for x in out)
        self.calls += 1
        return out


def _no_host_copy(*args, **kwargs):
    raise AssertionError("a tensor was read on the host during the rollout")


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))],
)
def test_a_rollout_and_update_stay_on_the_device(device, monkeypatch):
    env = DeviceChecked(TorchCartPole(32, device))
    ppo = DevicePPO(env, PPOParams(n_steps=8, n_epochs=1), seed=0)
    ppo.collect_rollout()  # the first reset happens outside the guarded loop below
    with monkeypatch.context() as m:
        for name in ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__"):
            m.setattr(torch.Tensor, name, _no_host_copy)
        ppo.collect_rollout()
        ppo.update()
    assert env.calls == 16
    for buffer in (ppo.obs, ppo.actions, ppo.logprobs, ppo.rewards, ppo.values, ppo.dones, ppo.normalizer.obs_rms.mean):
        assert buffer.device.type == torch.device(device).type


def test_the_lp_adapter_hands_over_device_tensors():
    from envs.uniswap_v3_lp import UniswapV3LPVectorEnv

    env = HostBoundaryEnv(UniswapV3LPVectorEnv(num_envs=4, backend="torch", device="cpu", horizon=2), "cpu")
    obs = env.reset(seed=0)
    obs, reward, terminated, truncated, final = env.step(torch.tensor([0, 1, 2, 8]))
    assert obs.shape == final.shape == (4, 9) and reward.dtype == torch.float32 and not truncated.any()
    obs, reward, terminated, truncated, final = env.step(torch.zeros(4, dtype=torch.int64))
    assert truncated.all() and not terminated.any() and (final[:, 8] == 1).all() and (obs[:, 8] == 0).all()


def test_ppo_device_on_the_numpy_backend_stops_naming_the_fix():
    from agents.ppo_device import check_config
    from tests.configs import config

    cfg = config("agent=ppo_device", "backend=numpy")
    with pytest.raises(ValueError, match="add backend=torch"):
        check_config(cfg)


@pytest.mark.parametrize(
    "params, named",
    [
        ({"batch_size": 64}, "n_minibatches"),
        ({"n_steps": 0}, "n_steps"),
        ({"gamma": 1.5}, "gamma"),
        ({"net_arch": []}, "net_arch"),
    ],
)
def test_bad_parameters_name_the_key(params, named):
    with pytest.raises(ValueError, match=named):
        PPOParams.from_dict(params)


def test_a_checkpoint_round_trips_with_its_normalization(tmp_path):
    ppo = DevicePPO(TorchCartPole(16), PPOParams(n_steps=8, n_epochs=1), seed=0)
    ppo.learn(1)
    norm = ppo.save(tmp_path / "model.zip")
    assert norm == tmp_path / "vecnormalize.pkl"
    resumed = DevicePPO(TorchCartPole(16), PPOParams(n_steps=8, n_epochs=1), seed=1)
    resumed.load(tmp_path / "model.zip", norm)
    assert resumed.num_timesteps == ppo.num_timesteps == 128
    for key, value in ppo.agent.state_dict().items():
        torch.testing.assert_close(resumed.agent.state_dict()[key], value)
    torch.testing.assert_close(resumed.normalizer.obs_rms.var, ppo.normalizer.obs_rms.var)
    assert resumed.normalizer.ret_rms.count == ppo.normalizer.ret_rms.count
