"""Every benchmark runs at a tiny size and prints its JSON lines, so a broken benchmark fails the suite
(the figures themselves come from full runs, quoted in the README with date and machine)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "report.py"
_spec = importlib.util.spec_from_file_location("benchmark_report", REPORT)
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)
SMOKE = report.SMOKE  # each benchmark's tiny size, kept beside the script that writes the README's figures


def test_every_benchmark_has_a_smoke_run():
    assert sorted(SMOKE) == sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if p != REPORT)


def test_the_report_writes_the_figures_with_the_machine_and_load(tmp_path):
    """benchmarks/report.py runs a benchmark and writes its table under the date, the machine and the load."""
    out, readme = tmp_path / "report.md", tmp_path / "README.md"
    readme.write_text(f"# A project\n\n{report.README_BEGIN}\nold figures\n{report.README_END}\n\nthe rest\n")
    result = subprocess.run(
        [sys.executable, str(REPORT), "--smoke", "--only", "env_fps.py", "--out", str(out), "--readme", str(readme)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    echoed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert echoed and all(f"| {line['name']} | {line['backend']} |" in text for line in echoed)
    assert "| cores |" in text and "load average" in text and "## env_fps.py --batches 2 --steps 3" in text
    bad = subprocess.run([sys.executable, str(REPORT), "--only", "nope.py"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown benchmarks ['nope.py']" in bad.stderr
    # the README's figures are the run's, between the markers, with where and when it ran; the rest is kept
    written = readme.read_text()
    assert "old figures" not in written and written.startswith("# A project") and written.endswith("the rest\n")
    assert "Measured " in written and "cores" in written and f"kept in `{out.with_suffix('.json')}`" in written
    assert all(f"| env_fps.py | {line['name']} | {line['backend']} | {line['batch']} |" in written for line in echoed)
    # a kept run writes the README again without running; a README without the markers is refused
    readme.write_text(f"{report.README_BEGIN}\n{report.README_END}\n")
    again = subprocess.run(
        [sys.executable, str(REPORT), "--from", str(out.with_suffix(".json")), "--readme", str(readme)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0 and "| env_fps.py |" in readme.read_text(), again.stderr[-2000:]
    (tmp_path / "bare.md").write_text("no markers\n")
    bare = subprocess.run(
        [sys.executable, str(REPORT), "--from", str(out.with_suffix(".json")), "--readme", str(tmp_path / "bare.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bare.returncode != 0 and "has no benchmark markers" in bare.stderr


@pytest.fixture(scope="module")
def smoke_runs() -> dict[str, subprocess.CompletedProcess]:
    """Every benchmark's smoke run, started together (each is mostly interpreter start-up and imports)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, f"benchmarks/{name}", *args],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, args in SMOKE.items()
    }
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
