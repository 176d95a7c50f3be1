"""Several roles of defi_market_v0 learn at once (env.train_roles): one learner per role in the same
markets, each step of the markets taking every learner's actions, each role's policy saved and
evaluated against its baselines with the other learned roles playing their new policies."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from agents.co_training import LearnerVecEnv, MarketBarrier, check_roles
from envs import defi_market_v0

ROOT = Path(__file__).resolve().parents[1]


def test_one_block_takes_every_learners_actions():
    """Two learners stepping from their own threads move the markets once per block, each block
    carrying both roles' actions: the arbitrageurs' trades and the LP's re-centring land together."""
    market = defi_market_v0.vector_env(
        num_markets=3, n_arbitrageurs=2, n_liquidators=0, horizon=50, driver_kwargs={"dt": 60.0, "sigma": 0.8}
    )
    barrier = MarketBarrier(market, ["liquidity_provider", "arbitrageur"], {}, seed=4)
    lp, arb = LearnerVecEnv(barrier, "liquidity_provider"), LearnerVecEnv(barrier, "arbitrageur")
    assert (lp.num_envs, arb.num_envs) == (3, 6)
    seen: dict[str, list] = {"lp": [], "arb": []}

    def drive(env, actions, key):
        env.reset()
        for _ in range(5):
            env.step_async(actions)
            seen[key].append(env.step_wait())

    threads = [
        threading.Thread(target=drive, args=(lp, np.full(3, 2), "lp")),
        threading.Thread(target=drive, args=(arb, np.full(6, 4), "arb")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert market.core.t == 5  # five blocks, not ten
    arb_traded = [step[1] for step in seen["arb"]]
    assert all(r.shape == (6,) for r in arb_traded) and all(step[1].shape == (3,) for step in seen["lp"])
    # the LP's first action re-centred its range in every market (it held none): the block took it
    assert np.all(seen["lp"][0][0][:, 2] > 0)  # range_half_width after the first block
    market.close()


@pytest.mark.parametrize(
    "roles, others, match",
    [
        (["arbitrageur"], {}, "two or more"),
        (["arbitrageur", "market_maker"], {}, "two or more"),
        (["arbitrageur", "arbitrageur"], {}, "each once"),
        (["arbitrageur", "liquidity_provider"], {"arbitrageur_1": "baseline:greedy_arbitrageur"}, "arbitrageur_1"),
    ],
)
def test_bad_train_roles_are_refused_naming_the_problem(roles, others, match):
    with pytest.raises(ValueError, match=match):
        check_roles(roles, others)


def test_co_training_from_the_config_saves_and_evaluates_every_role(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "env=defi_market",
            "env.train_roles=[liquidity_provider,arbitrageur]",
            "driver=gbm",
            "driver.dt=60",
            "env.horizon=16",
            "train.num_envs=2",
            "train.total_timesteps=128",
            "agent.params.n_steps=32",
            "agent.params.batch_size=32",
            "train.eval_freq=0",
            "eval.episodes=2",
            "eval.backend=numpy",
            "train.progress_bar=false",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "train_metrics.json").read_text())
    # two rollouts of 32 blocks in 2 markets: the LP's one agent and the two arbitrageurs as slots
    assert metrics["blocks"] == 64 and metrics["roles"] == {"liquidity_provider": 128, "arbitrageur": 256}
    for role in ("liquidity_provider", "arbitrageur"):
        policy = tmp_path / "policies" / role
        assert (policy / "model.zip").is_file() and (policy / "vecnormalize.pkl").is_file()
        meta = json.loads((policy / "model.meta.json").read_text())
        assert meta["role"] == role and meta["env_config"]["train_role"] == role
        report = json.loads((tmp_path / "eval" / role / "report.json").read_text())
        assert f"{role}/model" in report["policies"]
        others = report["settings"]["config"]["env"]["others"]
        learned = "arbitrageur" if role == "liquidity_provider" else "liquidity_provider"
        assert all(
            path.endswith(f"policies/{learned}/model.zip")
            for agent, path in others.items()
            if agent.startswith(learned)
        )
        assert any(agent.startswith(learned) for agent in others)

    curves = list(csv.DictReader((tmp_path / "learning_curves.csv").open()))
    for role, slots in (("liquidity_provider", 2), ("arbitrageur", 4)):  # each role's curve, in blocks
        points = [row for row in curves if row["role"] == role]
        assert points and int(points[-1]["block"]) == 64 and int(points[-1]["agent_steps"]) == 64 * slots
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000

    from agents.policy import load_policy
    from envs.roles.arbitrageur import Arbitrageur

    with pytest.raises(ValueError, match="plays the liquidity_provider role, not the arbitrageur"):
        load_policy(str(tmp_path / "policies" / "liquidity_provider" / "model.zip"), Arbitrageur())


def test_a_co_training_config_is_checked_against_its_roles():
    """env.train_roles checks its own roles, not env.train_role's default (the arbitrageur here is absent)."""
    from agents.config import check
    from tests.configs import config

    roles = ["env=defi_market", "env.train_roles=[liquidity_provider,liquidator]", "driver=gbm"]
    check(config(*roles, "env.n_arbitrageurs=0"))
    with pytest.raises(ValueError, match="liquidator_0"):
        check(config(*roles, "+env.others.liquidator_0=baseline:greedy_liquidator"))


def test_an_optuna_search_over_co_training_is_refused_naming_the_alternative():
    """Optuna maximizes a validation reward (train.objective) that co-training does not produce: the config is
    refused before any training, naming the alternative."""
    from agents.config import check
    from tests.configs import config

    search = config("hparams_search=ppo_optuna", "env=defi_market", "env.train_roles=[arbitrageur,liquidator]")
    assert search.train.objective == "validation_reward"
    with pytest.raises(ValueError, match=r"train.objective=validation_reward .*sweep it as a grid"):
        check(search)
    check(config("hparams_search=ppo_optuna", "env=defi_market", "env.train_role=arbitrageur"))  # one learner
