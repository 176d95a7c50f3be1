"""Exported ONNX policies act as their stable-baselines3 originals, and a bad manifest is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.vec_env import VecNormalize

from agents.export import export
from agents.onnx_policy import ManifestError, OnnxPolicy
from agents.policy import TrainedPolicy, write_metadata
from agents.vec_env import SB3VecEnv
from envs.uniswap_v3_lp import UniswapV3LPVectorEnv

ALGOS = {
    "ppo": (PPO, "discrete", dict(n_steps=16, batch_size=64)),
    "dqn": (DQN, "discrete", dict(learning_starts=64, buffer_size=2000)),
    "sac": (SAC, "continuous", dict(learning_starts=64, buffer_size=2000, batch_size=32)),
}


def _trained(tmp_path, algo: str):
    cls, action_type, params = ALGOS[algo]
    env = VecNormalize(SB3VecEnv(UniswapV3LPVectorEnv(num_envs=8, horizon=24, action_type=action_type)))
    model = cls("MlpPolicy", env, seed=0, verbose=0, **params)
    model.learn(256)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    write_metadata(
        tmp_path / "model.zip",
        env_id="defigym/UniswapV3LP-v0",
        role="liquidity_provider",
        algo=algo,
        env_config={"horizon": 24, "action_type": action_type},
        normalize=True,
    )
    return tmp_path / "model.zip"


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_onnx_actions_equal_the_sb3_deterministic_actions(tmp_path, algo):
    model = _trained(tmp_path, algo)
    manifest = export(model)
    observations = np.random.default_rng(1).normal(0, 3, (512, 9)).astype(np.float32)
    onnx_actions, _ = OnnxPolicy(manifest).predict(observations)
    sb3_actions, _ = TrainedPolicy(model).predict(observations)
    np.testing.assert_allclose(onnx_actions, sb3_actions, rtol=0, atol=1e-5)
    single, _ = OnnxPolicy(manifest).predict(observations[0])
    np.testing.assert_allclose(single, sb3_actions[0], atol=1e-5)


def test_the_manifest_describes_what_deployment_needs(tmp_path):
    manifest = json.loads(export(_trained(tmp_path, "ppo")).read_text())
    assert manifest["env_id"] == "defigym/UniswapV3LP-v0" and manifest["role"] == "liquidity_provider"
    assert [f["name"] for f in manifest["observation"]["features"]][:2] == ["pool_vs_reference", "range_position"]
    assert len(manifest["observation"]["normalization"]["mean"]) == 9
    assert manifest["action"]["type"] == "discrete" and manifest["action"]["n"] == 9
    assert len(manifest["onnx"]["sha256"]) == 64 and "torch" in manifest["packages"]


def test_a_tampered_missing_or_malformed_export_is_refused(tmp_path):
    manifest = export(_trained(tmp_path, "ppo"))
    bad = tmp_path / "bad"
    shutil.copytree(manifest.parent, bad)
    (bad / "policy.onnx").write_bytes((bad / "policy.onnx").read_bytes() + b"\0")
    with pytest.raises(ManifestError, match="sha256.*refusing"):
        OnnxPolicy(bad / "manifest.json")
    data = json.loads(manifest.read_text())
    del data["action"]
    (bad / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="missing \\['action'\\]"):
        OnnxPolicy(bad / "manifest.json")
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        OnnxPolicy(bad / "manifest.json")
    with pytest.raises(ManifestError, match="no manifest"):
        OnnxPolicy(tmp_path / "nowhere" / "manifest.json")


@pytest.mark.parametrize(
    "env_id, role, features, algo, action_type",
    [
        ("defigym/CexDexArbitrage-v0", "arbitrageur", 5, "sac", "continuous"),  # a Box(0, 1) action, rescaled from tanh
        ("defigym/AaveLeverage-v0", "borrower", 8, "ppo", "discrete"),
        ("defigym/AaveLiquidator-v0", "liquidator", 20, "dqn", None),
        ("defigym/UniswapV2LP-v0", "v2_liquidity_provider", 6, "sac", "continuous"),
    ],
)
def test_every_role_exports_with_its_own_features_and_actions(tmp_path, env_id, role, features, algo, action_type):
    import yaml

    from agents.config import env_classes

    cls, _, params = ALGOS[algo]
    kwargs = {"horizon": 12} | ({"action_type": action_type} if action_type else {})
    env = VecNormalize(SB3VecEnv(env_classes(env_id)[1](num_envs=4, **kwargs)))
    model = cls("MlpPolicy", env, seed=0, verbose=0, **params)
    model.learn(128)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"env": {"id": env_id, "slots": 4}}))
    manifest_path = export(tmp_path / "model.zip")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["env_id"] == env_id and manifest["role"] == role
    assert len(manifest["observation"]["features"]) == features == len(manifest["observation"]["normalization"]["mean"])
    observations = np.random.default_rng(2).normal(0, 3, (256, features)).astype(np.float32)
    onnx_actions, _ = OnnxPolicy(manifest_path).predict(observations)
    sb3_actions, _ = TrainedPolicy(tmp_path / "model.zip").predict(observations)
    np.testing.assert_allclose(onnx_actions, sb3_actions, rtol=0, atol=1e-5)


def test_the_features_are_read_without_the_training_machines_data_files():
    """Export lists a role's features from the checkpoint's env config even where that config names an
    event file or a lending calibration this machine does not have."""
    from agents.export import observation_features

    lp = observation_features("defigym/UniswapV3LP-v0", {"flow": "replay", "flow_file": "/nowhere/events.parquet"})
    assert [f[0] for f in lp][:2] == ["pool_vs_reference", "range_position"]
    borrower = observation_features("defigym/AaveLeverage-v0", {"lending": {"calibration": "/nowhere/fit.json"}})
    assert borrower[0][0] == "health_factor"
