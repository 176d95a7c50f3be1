"""Every benchmark runs at a tiny size and prints its JSON lines, so a broken benchmark fails the suite
(the figures themselves come from full runs, quoted in the README with date and machine)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = {
    "sim_throughput.py": ["--batches", "1", "8", "--backend", "numpy", "torch", "--steps", "5"],
    "env_fps.py": ["--batches", "2", "--steps", "3"],
    "train_fps.py": ["--timesteps", "256"],
    "evm_throughput.py": ["--swaps", "20"],
    "replay.py": ["--batches", "1", "4", "--backends", "kernel", "numpy", "--limit", "200"],
    "lp_backtest.py": ["--strategies", "1,8", "--swaps", "20", "--backends", "numpy", "kernel"],
}


def test_every_benchmark_has_a_smoke_run():
    assert sorted(SMOKE) == sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))


@pytest.fixture(scope="module")
def smoke_runs() -> dict[str, subprocess.CompletedProcess]:
    """Every benchmark's smoke run, started together (each is mostly interpreter start-up and imports)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {name: subprocess.Popen([sys.executable, f"benchmarks/{name}", *args], cwd=ROOT, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name, args in SMOKE.items()}
    runs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        runs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return runs


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_the_benchmark_runs_and_prints_its_figures(script, smoke_runs):
    result = smoke_runs[script]
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout
    for line in lines:
        assert {"name", "backend", "value", "unit"} <= set(line) and line["value"] > 0, line


def test_the_lp_backtest_runs_both_swap_paths(smoke_runs):
    """The compiled kernel and the array code each print their figure (and agreed, or it exits 1)."""
    lines = [json.loads(line) for line in smoke_runs["lp_backtest.py"].stdout.splitlines() if line.startswith("{")]
    assert {(line["backend"], line["batch"]) for line in lines} == {(b, s) for b in ("numpy", "kernel") for s in (1, 8)}
