"""train.py and evaluate.py, run as a user runs them, with tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "env.horizon=24",
    "train.num_envs=16",
    "train.eval_episodes=8",
    "train.eval_freq=512",
    "eval.episodes=2",
    "eval.backend=numpy",
    "train.progress_bar=false",
    "eval.plots=true",
]


def run(script: str, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, script, *overrides], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ppo")
    result = run("train.py", *TINY, "train.total_timesteps=2048", f"hydra.run.dir={run_dir}")
    assert Path(result.stdout.strip().splitlines()[-1]) == run_dir / "eval" / "report.json"
    return run_dir


def test_a_tiny_training_run_leaves_model_normalization_config_logs_and_a_report(trained: Path):
    for name in (
        "model.zip",
        "vecnormalize.pkl",
        "best_model.zip",
        "train_metrics.json",
        ".hydra/config.yaml",
        "eval/report.json",
        "eval/equity.png",
        "eval/price_range.png",
    ):
        assert (trained / name).is_file(), name
    assert any((trained / "tb").iterdir())
    report = json.loads((trained / "eval" / "report.json").read_text())
    assert set(report["policies"]) == {f"{trained.name}/model", "hodl", "passive_lp", "recentering_lp", "tau_reset_lp"}
    hodl = report["policies"]["hodl"]
    assert hodl["fees_usd"] == 0 and hodl["excess_return_vs_hodl"] == 0 and hodl["rebalances"] == 0
    passive = report["policies"]["passive_lp"]
    assert passive["rebalances"] == 1 and passive["time_in_range"] == 1.0 and passive["fees_usd"] > 0


def test_evaluate_loads_the_model_and_runs_it_on_the_real_contracts(trained: Path, tmp_path):
    result = run(
        "evaluate.py",
        f"policy={trained / 'model.zip'}",
        "backend=evm",
        "env.horizon=12",
        "eval.episodes=1",
        "eval.policies=[baseline:passive_lp]",
        "eval.plots=false",
        f"hydra.run.dir={tmp_path}",
    )
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == str(tmp_path / "report.json")
    report = json.loads(Path(lines[-1]).read_text())
    assert report["settings"]["backend"] == "evm" and len(report["policies"]) == 2
    csv = (tmp_path / "trajectories_passive_lp.csv").read_text().splitlines()
    assert csv[0].startswith("episode,step,reference_price") and len(csv) == 1 + 13


def test_the_best_checkpoint_loads_with_the_normalization_it_was_validated_with(trained: Path):
    import pickle

    from agents.policy import TrainedPolicy

    with (trained / "best_vecnormalize.pkl").open("rb") as f:
        best = pickle.load(f).obs_rms.mean
    with (trained / "vecnormalize.pkl").open("rb") as f:
        last = pickle.load(f).obs_rms.mean
    assert not np.allclose(best, last)  # training went on after the best validation
    np.testing.assert_array_equal(TrainedPolicy(trained / "best_model.zip").obs_rms.mean, best)
    np.testing.assert_array_equal(TrainedPolicy(trained / "model.zip").obs_rms.mean, last)


@pytest.mark.parametrize("algo", ["a2c", "dqn"])
def test_other_algorithms_train_too(algo, tmp_path):
    run(
        "train.py",
        f"agent={algo}",
        *TINY,
        "train.total_timesteps=1024",
        "train.evaluate_after=false",
        "agent.params={}" if algo == "dqn" else "agent.params.n_steps=8",
        f"hydra.run.dir={tmp_path}",
    )
    assert (tmp_path / "model.zip").is_file()


def test_evaluation_on_anvil_forked_from_the_local_mainnet_matches_evm(tmp_path):
    from envs.contracts.localnet import build_localnet, serve_localnet

    build_localnet(tmp_path / "net")
    with serve_localnet(tmp_path / "net") as node:
        common = [
            "env.horizon=10",
            "eval.episodes=1",
            "eval.policies=[baseline:recentering_lp]",
            "eval.plots=false",
            "driver=gbm",
        ]
        on_fork = run(
            "evaluate.py", "backend=anvil", f"backend.fork_url={node.url}", *common, f"hydra.run.dir={tmp_path / 'a'}"
        )
        on_evm = run("evaluate.py", "backend=evm", *common, f"hydra.run.dir={tmp_path / 'e'}")
    fork_metrics = json.loads(Path(on_fork.stdout.strip().splitlines()[-1]).read_text())["policies"]["recentering_lp"]
    evm_metrics = json.loads(Path(on_evm.stdout.strip().splitlines()[-1]).read_text())["policies"]["recentering_lp"]
    for key, value in evm_metrics.items():
        assert fork_metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key


@pytest.mark.parametrize(
    "override, named",
    [
        ("train.total_timestep=5", "total_timestep"),
        ("env.horizon=abc", "env.horizon"),
        ("train.window=[0.9,0.1]", "train.window"),
        ("agent.algo=ppo2", "agent.algo"),
        ("env.reward=sharpe", "reward"),
    ],
)
def test_bad_configs_fail_at_start_naming_the_key(override, named):
    result = run("train.py", override, "train.progress_bar=false", check=False)
    assert result.returncode != 0 and named in result.stderr
    assert "trained" not in result.stdout  # it stopped before any training


def test_a_two_job_multirun_in_parallel_ends_with_a_ranked_summary(tmp_path):
    result = run(
        "train.py",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        *TINY,
        "train.total_timesteps=1024",
        "train.evaluate_after=false",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert sorted(p.name for p in tmp_path.iterdir() if (p / "model.zip").is_file()) == ["0", "1"]
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "summary.md")
    import csv

    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2"] and {r["run"] for r in rows} == {"0", "1"}
    assert float(rows[0]["best_validation_reward"]) >= float(rows[1]["best_validation_reward"])


def test_an_optuna_search_maximizes_the_validation_reward(tmp_path):
    run(
        "train.py",
        "-m",
        "hparams_search=ppo_optuna",
        "hydra.sweeper.n_trials=2",
        *TINY,
        "train.total_timesteps=1024",
        f"hydra.sweep.dir={tmp_path}",
    )
    import yaml

    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) >= {"agent.params.learning_rate", "agent.params.n_epochs"}
    best = max(
        json.loads((tmp_path / r / "train_metrics.json").read_text())["best_validation_reward"] for r in ("0", "1")
    )
    assert results["best_value"] == pytest.approx(best)


@pytest.mark.parametrize(
    "env, extra, baselines, plots",
    [
        ("cex_dex_arbitrage", ["driver=gbm", "driver.dt=12"], {"greedy_arbitrageur"}, {"pnl.png"}),
        (
            "aave_leverage",
            ["driver=gbm", "driver.params.sigma=1.2"],
            {"target_ltv_borrower", "hf_keeper"},
            {"pnl.png", "health_factor.png"},
        ),
        ("aave_liquidator", ["driver=gbm", "driver.params.sigma=1.5"], {"greedy_liquidator"}, {"pnl.png"}),
        ("uniswap_v2_lp", ["driver=gbm"], {"passive_v2_lp", "hodl_v2"}, {"pnl.png"}),
    ],
)
def test_the_trading_envs_train_from_the_config_and_evaluate_against_their_baselines(
    tmp_path, env, extra, baselines, plots
):
    result = run(
        "train.py",
        f"env={env}",
        *extra,
        "env.horizon=32",
        "train.num_envs=8",
        "train.eval_episodes=4",
        "train.eval_freq=256",
        "train.total_timesteps=512",
        "train.progress_bar=false",
        "eval.episodes=2",
        "eval.backend=numpy",
        f"hydra.run.dir={tmp_path}",
    )
    assert (tmp_path / "model.zip").is_file() and (tmp_path / "vecnormalize.pkl").is_file()
    assert json.loads((tmp_path / "train_metrics.json").read_text())["timesteps"] == 512
    report_path = Path(result.stdout.strip().splitlines()[-1])
    assert report_path == tmp_path / "eval" / "report.json"
    report = json.loads(report_path.read_text())
    assert set(report["policies"]) == {f"{tmp_path.name}/model"} | baselines
    assert all((tmp_path / "eval" / p).is_file() for p in plots)
    for name, m in report["policies"].items():
        trajectory = np.loadtxt(
            tmp_path / "eval" / f"trajectories_{name.replace('/', '_')}.csv", delimiter=",", skiprows=1
        )
        rewards = trajectory[:, 4].reshape(2, 33)[:, 1:]  # column 4: reward; 2 episodes of 32 steps
        assert m["pnl_usd"] == pytest.approx(rewards.sum(axis=1).mean())  # the report sums what the env paid
        assert m["gas_usd"] >= 0


def test_one_role_of_the_multi_agent_market_trains_from_the_config(tmp_path):
    """env=defi_market: both arbitrageurs are slots of one policy; the LP and the liquidator play
    baselines (one named in env.others); the report scores the role against its baseline."""
    result = run(
        "train.py",
        "env=defi_market",
        "env.train_role=arbitrageur",
        "driver=gbm",
        "driver.dt=60",
        "env.horizon=16",
        "+env.others.liquidity_provider_0=baseline:tau_reset_lp",
        "train.eval_freq=32",
        "train.eval_episodes=2",
        "train.num_envs=2",
        "train.total_timesteps=128",
        "agent.params.n_steps=32",
        "agent.params.batch_size=64",
        "eval.episodes=2",
        "eval.backend=evm",
        "train.progress_bar=false",
        f"hydra.run.dir={tmp_path}",
    )
    assert (tmp_path / "model.zip").is_file() and (tmp_path / "best_model.zip").is_file()
    assert json.loads((tmp_path / "train_metrics.json").read_text())["timesteps"] == 128
    report = json.loads(Path(result.stdout.strip().splitlines()[-1]).read_text())
    assert set(report["policies"]) == {f"{tmp_path.name}/model", "greedy_arbitrageur"}
    greedy = report["policies"]["greedy_arbitrageur"]
    assert greedy["role_agents"] == 2 and greedy["pnl_usd"] > 0  # the greedy pair makes money on the real pool
    assert {"pnl_usd_of_liquidity_provider_0", "pnl_usd_of_liquidator_0"} <= set(greedy)
    episodes = np.loadtxt(tmp_path / "eval" / "episodes_greedy_arbitrageur.csv", delimiter=",", skiprows=1)
    assert greedy["pnl_usd"] == pytest.approx(episodes[:, 1:3].mean())  # columns: LP, the two arbitrageurs, liquidator


@pytest.mark.parametrize(
    "override, message",
    [("env.train_role=borrower", "env.train_role"), ("+env.others.lender_0=baseline:hodl", "env.others")],
)
def test_a_bad_market_config_fails_at_start(override, message):
    result = run("train.py", "env=defi_market", override, "driver=gbm", check=False)
    assert result.returncode != 0 and message in result.stderr
