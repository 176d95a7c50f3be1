"""Run the benchmarks and write their figures beside the date, the machine and its load, so the README's
performance figures come from a file this script wrote, not from memory.

    python benchmarks/report.py                      # every benchmark at its own default size
    python benchmarks/report.py --only replay.py lp_backtest.py --out benchmarks/results/replay.md
    python benchmarks/report.py --smoke              # every benchmark at a tiny size (what the tests run)

Each benchmark runs in its own process with one torch/BLAS thread (``OMP_NUM_THREADS=1``), one after
another; the load average is read before and after each, since a shared machine's figures mean
little without it. The JSON lines the benchmarks print are echoed to stdout as they come.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: each benchmark at a tiny size: seconds each, what the test suite runs so a broken benchmark fails CI
SMOKE = {
    "sim_throughput.py": ["--batches", "1", "8", "--backend", "numpy", "torch", "--steps", "5"],
    "env_fps.py": ["--batches", "2", "--steps", "3"],
    "market_fps.py": ["--batches", "2", "--backends", "numpy", "torch", "--steps", "2"],
    "train_fps.py": ["--timesteps", "256"],
    "evm_throughput.py": ["--swaps", "20"],
    "replay.py": ["--batches", "1", "4", "--backends", "kernel", "numpy", "--limit", "200"],
    "lp_backtest.py": ["--strategies", "1,8", "--swaps", "20", "--backends", "numpy", "kernel"],
}


def emit(name: str, backend: str, batch: int, value: float, unit: str, **extra) -> None:
    """One figure as the JSON line every benchmark prints and ``run`` reads back."""
    line = {
        "name": name,
        "backend": backend,
        "batch": batch,
        "value": round(value, 1),
        "unit": unit,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        **extra,
    }
    print(json.dumps(line), flush=True)


def machine() -> dict[str, str]:
    """What the figures were measured on: CPU model, cores, memory, Python and the array libraries."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    mem_kb = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0
    )
    versions = {}
    for module in ("numpy", "torch", "numba", "stable_baselines3"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "absent"
    gpu = (
        subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
        ).stdout.strip()
        if _has("nvidia-smi")
        else "none"
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kb / 2**20:.0f} GiB",
        "gpu": gpu or "none",
        "python": platform.python_version(),
        **versions,
        "commit": _commit(),
    }


def run(script: str, args: list[str]) -> tuple[list[dict], dict[str, float]]:
    """One benchmark's JSON lines, and the load and wall time around it."""
    before = os.getloadavg()[0]
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, env=env, text=True, capture_output=True
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"benchmarks/{script} {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(line), flush=True)
    return lines, {"load_before": before, "load_after": os.getloadavg()[0], "seconds": time.perf_counter() - start}


def markdown(results: dict[str, tuple[list[dict], dict[str, float]]], host: dict[str, str], args: dict) -> str:
    """The report: when, where, how loaded, and one table per benchmark."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# Benchmarks, {now}", "", "| machine | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in host.items()]
    for script, (lines, load) in results.items():
        out += [
            "",
            f"## {script} {' '.join(args[script])}".rstrip(),
            "",
            f"load average {load['load_before']:.1f} before, {load['load_after']:.1f} after; "
            f"{load['seconds']:.0f} s; one thread per process",
            "",
        ]
        keys = ["name", "backend", "batch", "value", "unit"]
        extra = sorted({k for line in lines for k in line} - set(keys))
        out += ["| " + " | ".join(keys + extra) + " |", "|" + "---|" * (len(keys) + len(extra))]
        for line in lines:
            out.append("| " + " | ".join(_cell(line.get(k, "")) for k in keys + extra) + " |")
    return "\n".join(out) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _has(program: str) -> bool:
    return any((Path(d) / program).is_file() for d in os.environ.get("PATH", "").split(os.pathsep))


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=None, metavar="SCRIPT", help="these benchmarks (file names)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks they run, figures mean nothing")
    parser.add_argument(
        "--out", type=Path, default=None, help="the report (default: benchmarks/results/<UTC date and time>.md)"
    )
    args = parser.parse_args(argv)
    scripts = args.only or sorted(SMOKE)
    unknown = sorted(set(scripts) - set(SMOKE))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}: choose from {sorted(SMOKE)}")
    script_args = {s: SMOKE[s] if args.smoke else [] for s in scripts}
    host = machine()
    results = {s: run(s, script_args[s]) for s in scripts}
    out = args.out or ROOT / "benchmarks" / "results" / f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H%M}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(results, host, script_args))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
