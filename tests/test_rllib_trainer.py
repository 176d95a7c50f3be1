"""trainer=rllib: defi_market's roles co-trained with Ray RLlib's multi-agent PPO on a local Ray cluster (the
driver and one env-runner process), one module per role, then each role's module evaluated against its
baselines with the other learned role playing its module, as the stable-baselines3 co-training does."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.policy import load_policy
from envs import defi_market_v0

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("arbitrageur", "liquidity_provider")
#: no token written under ~/.ray, no usage report: the cluster is this test's alone
ENV = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")


@pytest.mark.ray
def test_rllib_co_trains_each_role_on_a_local_cluster_and_evaluates_it(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "env=defi_market",
            "trainer=rllib",
            f"env.train_roles=[{','.join(ROLES)}]",
            "env.horizon=24",
            "env.n_liquidators=0",
            "train.total_timesteps=192",
            "trainer.num_env_runners=1",
            "trainer.train_batch_size=96",
            "trainer.minibatch_size=32",
            "trainer.num_epochs=2",
            "trainer.hidden=[16]",
            "eval.backend=numpy",
            "eval.episodes=2",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads((tmp_path / "train_metrics.json").read_text())["blocks"] >= 192

    probe = defi_market_v0.parallel_env(horizon=24, n_liquidators=0)
    obs, _ = probe.reset(seed=0)
    for role in ROLES:
        module = tmp_path / "policies" / role / "rl_module"
        meta = json.loads(module.with_name("rl_module.meta.json").read_text())
        assert meta["role"] == role and meta["algo"] == "rllib_ppo"
        agent = next(a for a in probe.possible_agents if defi_market_v0.agent_role(a)[0] == role)
        policy = load_policy(str(module), probe.role_of(agent))  # the module the role's agents shared
        action, _ = policy.predict(obs[agent])
        assert probe.action_space(agent).contains(np.asarray(action).astype(probe.action_space(agent).dtype))
        with pytest.raises(FileNotFoundError, match="rl_module.meta.json"):  # a module copied without its metadata
            load_policy(str(shutil.copytree(module, tmp_path / "copy" / role / "rl_module")), probe.role_of(agent))
        report = json.loads((tmp_path / "eval" / role / "report.json").read_text())
        assert f"{role}/rl_module" in report["policies"]  # scored beside the role's baselines
        assert len(report["policies"]) > 1
        other = next(r for r in ROLES if r != role)  # the other role played its learned module
        others = report["settings"]["config"]["env"]["others"]
        assert any(a.startswith(other) and p.endswith(f"policies/{other}/rl_module") for a, p in others.items())
    probe.close()
    wider = defi_market_v0.parallel_env(horizon=24, n_liquidators=0, half_widths=(600, 1200, 2400))
    with pytest.raises(ValueError, match="settings differ from the training run's"):  # more actions than trained on
        load_policy(
            str(tmp_path / "policies" / "liquidity_provider" / "rl_module"), wider.role_of("liquidity_provider_0")
        )
    wider.close()

    curves = list(csv.DictReader((tmp_path / "learning_curves.csv").open()))
    for role, slots in (("arbitrageur", 2), ("liquidity_provider", 1)):  # per agent, in blocks
        points = [row for row in curves if row["role"] == role]
        assert (
            points
            and int(points[-1]["block"]) >= 192
            and int(points[-1]["agent_steps"]) == slots * int(points[-1]["block"])
        )
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000


def market_for_rllib(seed: int | None = None):
    from agents.rllib_trainer import learning_env_class

    config = {
        "env_kwargs": {"horizon": 3, "n_liquidators": 0},
        "train_roles": list(ROLES),
        "others": {},
        "reward_scale": 0.01,
        "allow_missing_normalization": False,
    }
    return learning_env_class()(config)


def play_episode(env, seed: int | None) -> tuple[list, dict, dict]:
    """Observations of one episode (random actions from a fixed generator), and the last step's done flags."""
    obs, _ = env.reset(seed=seed)
    rng, seen = np.random.default_rng(0), [obs]
    while True:
        actions = {a: int(rng.integers(2)) for a in env.agents}  # hold or the first action: valid for both roles
        obs, rewards, terminated, truncated, _ = env.step(actions)
        seen.append(obs)
        if terminated["__all__"] or truncated["__all__"]:
            return seen, terminated, truncated
        assert terminated == {"__all__": False} and truncated == {"__all__": False}


def test_the_rllib_market_truncates_at_the_horizon_and_reseeds_its_episodes():
    """The horizon truncates (no agent terminated, so the value bootstraps past it); RLlib seeds only the first
    reset, and the episodes after it follow from that seed, so two runners seeded alike play alike."""
    a, b, c = market_for_rllib(), market_for_rllib(), market_for_rllib()
    first, terminated, truncated = play_episode(a, seed=5)
    assert terminated == {"__all__": False} and truncated == {"__all__": True}
    assert set(a.possible_agents) == {"arbitrageur_0", "arbitrageur_1", "liquidity_provider_0"}
    play_episode(b, seed=5)
    play_episode(c, seed=6)
    again_a, again_b, again_c = (play_episode(env, seed=None)[0] for env in (a, b, c))  # RLlib's autoreset
    same = lambda x, y: all(np.array_equal(o[k], p[k]) for o, p in zip(x, y) for k in o)  # noqa: E731
    assert same(again_a, again_b) and not same(again_a, again_c) and not same(again_a, first)
    for env in (a, b, c):
        env.close()


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["trainer=rllib"], "trains defi_market's roles together"),
        (["env=defi_market", "trainer=rllib", "env.train_role=arbitrageur"], "trains defi_market's roles together"),
        (
            ["env=defi_market", "trainer=rllib", "env.train_roles=[arbitrageur,liquidator]", "trainer.gamma=1.5"],
            "gamma",
        ),
        (
            [
                "env=defi_market",
                "trainer=rllib",
                "env.train_roles=[arbitrageur,liquidator]",
                "trainer.minibatch_size=512",
                "trainer.train_batch_size=256",
            ],
            "minibatch_size",
        ),
        (["trainer.name=keras"], "trainer=sb3 or trainer=rllib"),
        (["env=defi_market", "trainer=rllib", "env.train_roles=[arbitrageur,liquidator]", "backend=torch"], "numpy"),
    ],
)
def test_a_bad_trainer_config_is_refused_naming_the_key(overrides, match):
    from agents.config import validate
    from tests.configs import config

    cfg = config(*overrides)
    with pytest.raises(ValueError, match=match):
        validate(cfg)
