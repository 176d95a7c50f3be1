"""hydra/launcher=ray on a two-node local Ray cluster this test starts (a head and a worker, one CPU each)
and stops by process id: the trials run in parallel, one per node, and the sweep ends with summary.md."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.ray_sweep import TRIAL_RECORD, pack_run, trial_hydra_overrides, unpack_run

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
#: no token written under ~/.ray, no usage report: the cluster is this test's alone
ENV = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free now (all bound at once, so none repeats)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid``: everything a ``ray start`` run in its own session left behind."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
                pids.append(int(entry))
    return pids


def stop_session(sid: int) -> None:
    """SIGTERM every process of the session, then SIGKILL what is left after 2 s."""
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        for pid in session_pids(sid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while session_pids(sid) and time.monotonic() < deadline:
            time.sleep(0.2)


def ray_start(agent_port: int, *args: str) -> int:
    """``ray start`` in a session of its own; returns the session id, which every daemon it starts inherits."""
    process = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--num-cpus=1",
            "--num-gpus=0",
            "--disable-usage-stats",
            "--object-store-memory=80000000",
            f"--dashboard-agent-listen-port={agent_port}",
            "--node-ip-address=127.0.0.1",
            *args,
        ],
        env=ENV,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        stop_session(process.pid)
        raise
    if process.returncode != 0:
        stop_session(process.pid)
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out[-3000:]}")
    return process.pid


@pytest.fixture
def cluster() -> Iterator[str]:
    """A head and one worker node on this machine, one CPU each; yields the head's address."""
    pytest.importorskip("ray")
    temp_dir = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths live under it
    port, client_port, dashboard_port, head_agent_port, worker_agent_port = free_ports(5)
    sessions = []
    try:
        sessions.append(
            ray_start(
                head_agent_port,
                "--head",
                f"--port={port}",
                "--include-dashboard=false",
                f"--temp-dir={temp_dir}",
                f"--ray-client-server-port={client_port}",
                f"--dashboard-port={dashboard_port}",
            )
        )
        sessions.append(ray_start(worker_agent_port, f"--address=127.0.0.1:{port}"))
        yield f"127.0.0.1:{port}"
    finally:
        for sid in reversed(sessions):
            stop_session(sid)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not [pid for sid in sessions for pid in session_pids(sid)], "Ray processes outlived the test"


@pytest.mark.ray
def test_a_two_node_ray_sweep_runs_the_trials_in_parallel_and_ends_with_the_ranked_summary(cluster, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "-m",
            "hydra/launcher=ray",
            f"hydra.launcher.ray.init.address={cluster}",
            "seed=0,1",
            "env.horizon=24",
            "train.num_envs=8",
            "train.eval_episodes=4",
            "train.eval_freq=256",
            "train.total_timesteps=512",
            "train.progress_bar=false",
            "train.evaluate_after=false",
            f"hydra.sweep.dir={tmp_path}",
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(tmp_path / "summary.md") in result.stdout.splitlines()
    records = [json.loads((tmp_path / run / TRIAL_RECORD).read_text()) for run in ("0", "1")]
    assert all(r["returncode"] == 0 for r in records)
    assert records[0]["node_id"] != records[1]["node_id"]  # one trial per node: each holds its node's only CPU
    assert max(r["started"] for r in records) < min(r["finished"] for r in records)  # and they overlapped
    for run in ("0", "1"):
        assert (tmp_path / run / "model.zip").is_file()
        assert json.loads((tmp_path / run / "train_metrics.json").read_text())["timesteps"] == 512
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2"] and {r["run"] for r in rows} == {"0", "1"}
    assert float(rows[0]["best_validation_reward"]) >= float(rows[1]["best_validation_reward"])
    assert {r["overrides"].split()[0] for r in rows} == {"seed=0", "seed=1"}
    summary = (tmp_path / "summary.md").read_text().splitlines()
    assert summary[0].startswith("| rank | run | overrides | best_validation_reward") and len(summary) == 4
    assert not list(tmp_path.glob(".ray_launcher_*"))  # the shared-disk marker is gone


def test_a_trial_keeps_the_sweeps_hydra_overrides_but_not_the_launchers():
    assert trial_hydra_overrides(
        [
            "hydra/launcher=ray",
            "hydra.launcher.ray.init.address=auto",
            "hydra.sweep.dir=x",
            "+hydra.launcher.ray.init.num_cpus=2",
            "hydra.verbose=true",
            "hydra.job.chdir=true",
            "hydra/sweeper=optuna",
            "hydra.sweeper.n_trials=3",
        ]
    ) == ["hydra.verbose=true", "hydra.job.chdir=true"]


def test_a_run_directory_sent_from_another_node_lands_whole(tmp_path):
    run = tmp_path / "there" / "3"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    (run / "train_metrics.json").write_text('{"timesteps": 8}\n')
    unpack_run(pack_run(run), tmp_path / "here" / "3")
    assert (tmp_path / "here" / "3" / ".hydra" / "overrides.yaml").read_text() == "- seed=3\n"
    assert (tmp_path / "here" / "3" / "train_metrics.json").read_text() == '{"timesteps": 8}\n'
