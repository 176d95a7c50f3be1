"""Checkpoints carry what loading them needs: the observation normalization beside every model
(best_model.zip included) and a metadata file naming its env, role and normalization. Resume,
evaluation and export use them and refuse to guess when they are missing; Ctrl-C saves them."""

from __future__ import annotations

import json
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "env.horizon=24",
    "train.num_envs=16",
    "train.eval_episodes=4",
    "train.eval_freq=512",
    "train.progress_bar=false",
    "train.evaluate_after=false",
]
RESUME = [
    "env.horizon=24",
    "train.num_envs=2",
    "train.eval_freq=0",
    "train.total_timesteps=32",
    "train.progress_bar=false",
    "train.evaluate_after=false",
]
LEVERAGE_ENV = "defigym/AaveLeverage-v0"


def interruptible() -> None:
    """In the child: take Ctrl-C as a user's terminal sends it, even where the test runner was started with
    SIGINT ignored (a background job of a non-interactive shell), which a child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(script: str, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *overrides], cwd=ROOT, capture_output=True, text=True, timeout=600)


def copy(run_dir: Path, to: Path, *names: str) -> Path:
    """Some of a run's files in a folder of their own (a checkpoint moved away from its run)."""
    to.mkdir(parents=True, exist_ok=True)
    for name in names:
        (shutil.copytree if (run_dir / name).is_dir() else shutil.copy)(run_dir / name, to / name)
    return to


def normalization(path: Path):
    with path.open("rb") as f:
        return pickle.load(f).obs_rms


@pytest.fixture(scope="module")
def lp_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("lp")
    result = run("train.py", *TINY, "train.total_timesteps=1024", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def borrower_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("borrower")
    result = run(
        "train.py",
        "env=aave_leverage",
        "driver=gbm",
        "env.horizon=12",
        "train.num_envs=4",
        "train.eval_freq=0",
        "train.total_timesteps=128",
        "agent.params.n_steps=16",
        "agent.params.batch_size=64",
        "train.progress_bar=false",
        "train.evaluate_after=false",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_every_checkpoint_carries_its_env_role_and_normalization(lp_run: Path):
    for stem, norm in (("model", "vecnormalize.pkl"), ("best_model", "best_vecnormalize.pkl")):
        meta = json.loads((lp_run / f"{stem}.meta.json").read_text())
        assert meta["env_id"] == "defigym/UniswapV3LP-v0" and meta["role"] == "liquidity_provider", stem
        assert meta["algo"] == "ppo" and meta["normalize"] is True and meta["normalization_file"] == norm
        assert meta["env_config"]["horizon"] == 24 and (lp_run / norm).is_file()


def test_resuming_from_the_best_checkpoint_continues_its_normalization(lp_run: Path, tmp_path):
    moved = copy(lp_run, tmp_path / "best", "best_model.zip", "best_vecnormalize.pkl")
    result = run("train.py", *RESUME, f"train.resume={moved / 'best_model.zip'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    best, resumed = normalization(moved / "best_vecnormalize.pkl"), normalization(tmp_path / "run" / "vecnormalize.pkl")
    assert best.count > 500  # the statistics of 512+ training steps
    assert resumed.count > best.count  # they went on; fresh ones would count only the resumed run's few steps


def test_resuming_without_the_normalization_fails_unless_told(lp_run: Path, tmp_path):
    moved = copy(lp_run, tmp_path / "best", "best_model.zip")
    result = run("train.py", *RESUME, f"train.resume={moved / 'best_model.zip'}", f"hydra.run.dir={tmp_path / 'a'}")
    assert result.returncode != 0
    assert "best_vecnormalize.pkl" in result.stderr and "train.allow_missing_normalization=true" in result.stderr
    assert not (tmp_path / "a" / "model.zip").exists()
    result = run(
        "train.py",
        *RESUME,
        f"train.resume={moved / 'best_model.zip'}",
        "train.allow_missing_normalization=true",
        f"hydra.run.dir={tmp_path / 'b'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "b" / "model.zip").is_file()


def test_a_model_without_its_normalization_is_refused_unless_told(lp_run: Path, tmp_path):
    from agents.policy import TrainedPolicy

    for name, files in (("with_config", (".hydra",)), ("with_metadata", ("model.meta.json",))):
        moved = copy(lp_run, tmp_path / name, "model.zip", *files)
        with pytest.raises(FileNotFoundError, match="vecnormalize.pkl.*allow_missing_normalization"):
            TrainedPolicy(moved / "model.zip")
        assert TrainedPolicy(moved / "model.zip", allow_missing_normalization=True).obs_rms is None


def test_evaluate_refuses_a_model_without_its_normalization_unless_told(lp_run: Path, tmp_path):
    moved = copy(lp_run, tmp_path / "moved", "model.zip", ".hydra")
    common = [
        f"policy={moved / 'model.zip'}",
        "backend=numpy",
        "env.horizon=12",
        "eval.episodes=1",
        "eval.policies=[baseline:hodl]",
        "eval.plots=false",
    ]
    result = run("evaluate.py", *common, f"hydra.run.dir={tmp_path / 'a'}")
    assert result.returncode != 0 and "eval.allow_missing_normalization=true" in result.stderr
    assert not (tmp_path / "a" / "report.json").exists()
    result = run("evaluate.py", *common, "eval.allow_missing_normalization=true", f"hydra.run.dir={tmp_path / 'b'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "b" / "report.json").is_file()


def test_export_reads_the_role_from_the_checkpoint_without_its_run_folder(borrower_run: Path, tmp_path):
    from agents.export import export

    moved = copy(borrower_run, tmp_path / "moved", "model.zip", "vecnormalize.pkl", "model.meta.json")
    manifest = json.loads(export(moved / "model.zip").read_text())
    assert manifest["env_id"] == LEVERAGE_ENV and manifest["role"] == "borrower"
    assert manifest["env_config"]["targets"] == [0.0, 0.3, 0.5, 0.65, 0.75]
    assert manifest["world"] == {"pool": "uniswap_v3", "beside": [], "lending": "aave_v3"}  # what it learned beside
    assert len(manifest["observation"]["features"]) == 8


def test_export_without_metadata_or_config_refuses_to_guess_the_role(borrower_run: Path, tmp_path):
    from agents.export import export

    moved = copy(borrower_run, tmp_path / "moved", "model.zip", "vecnormalize.pkl")
    with pytest.raises(ValueError, match="model.meta.json.*--env-id"):
        export(moved / "model.zip")
    assert json.loads(export(moved / "model.zip", env_id=LEVERAGE_ENV).read_text())["role"] == "borrower"


def test_ctrl_c_during_training_saves_the_model_normalization_and_metadata(tmp_path):
    command = [
        sys.executable,
        "train.py",
        *TINY,
        "train.eval_freq=0",
        "train.total_timesteps=10000000",
        f"hydra.run.dir={tmp_path}",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    deadline = time.monotonic() + 300
    while not any((tmp_path / "tb").glob("*")):  # SB3 opens its log when learning starts
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.5)
    time.sleep(3)  # some updates in
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "interrupted" in stderr, stderr[-3000:]
    for name in ("model.zip", "vecnormalize.pkl", "model.meta.json"):
        assert (tmp_path / name).is_file(), name
    meta = json.loads((tmp_path / "model.meta.json").read_text())
    assert 0 < meta["timesteps"] < 10_000_000
    from agents.policy import TrainedPolicy

    assert TrainedPolicy(tmp_path / "model.zip").obs_rms.count > 16
    assert f"train.resume={tmp_path / 'model.zip'}" in stderr  # how to continue
