"""Run the benchmarks and write their figures beside the date, the machine and its load, so the README's
performance figures come from a file this script wrote, not from memory.

    python benchmarks/report.py                      # every benchmark at its own default size
    python benchmarks/report.py --only replay.py lp_backtest.py --out benchmarks/results/replay.md
    python benchmarks/report.py --smoke              # every benchmark at a tiny size (what the tests run)
    python benchmarks/report.py --only env_fps.py --readme README.md  # and the README's figures from the run
    python benchmarks/report.py --from benchmarks/results/2026-12-03_world2.json --readme README.md

Each benchmark runs in its own process with one torch/BLAS thread (``OMP_NUM_THREADS=1``), one after
another; the load average is read before and after each, since a shared machine's figures mean
little without it. The JSON lines the benchmarks print are echoed to stdout as they come. Beside the report, the run
is kept as JSON (``<report>.json``); ``--readme`` writes its figures into the README between the
``README_BEGIN`` and ``README_END`` markers, under the date, the machine, the load and the command, so the README's
headline figures are always a run's, never copied by hand.
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
#: where ``--readme`` writes the figures: everything between the two markers is replaced
README_BEGIN = "<!-- benchmarks: written by benchmarks/report.py --readme; do not edit by hand -->"
README_END = "<!-- /benchmarks -->"
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


def run_record(results: dict[str, tuple[list[dict], dict[str, float]]], host: dict[str, str], args: dict) -> dict:
    """The run as data: when, the machine, and per benchmark its arguments, load and figures."""
    return {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": host,
        "results": {s: {"args": args[s], "load": load, "lines": lines} for s, (lines, load) in results.items()},
    }


def readme_section(record: dict, source: str) -> str:
    """The README's figures from one run: where and when it ran, how loaded, the command, and every figure."""
    host, results = record["host"], record["results"]
    loads = [v["load"][k] for v in results.values() for k in ("load_before", "load_after")]
    command = "python benchmarks/report.py --only " + " ".join(results)
    out = [
        f"Measured {record['when']} on {host['cpu']} ({host['cores']} cores, {host['memory']}, GPU: {host['gpu']}), "
        f"load average {min(loads):.1f}-{max(loads):.1f}, commit {host['commit']}, one thread per process: "
        f"`{command}`, kept in `{source}`.",
        "",
        "| benchmark | name | backend | batch | value | unit |",
        "|---|---|---|---|---|---|",
    ]
    for script, result in results.items():
        for line in result["lines"]:
            out.append(
                f"| {script} | {line['name']} | {line['backend']} | {line['batch']} | {_cell(line['value'])} | "
                f"{line['unit']} |"
            )
    return "\n".join(out)


def write_readme(readme: Path, section: str) -> None:
    """Replace what lies between the README's markers with ``section``; a README without them is refused."""
    text = readme.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise SystemExit(
            f"{readme} has no benchmark markers: put {README_BEGIN} and {README_END} on lines of their own where "
            "the figures go"
        )
    readme.write_text(text[: begin + len(README_BEGIN)] + "\n" + section + "\n" + text[end:])


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
    parser.add_argument("--readme", type=Path, default=None, help="write the run's figures into this README")
    parser.add_argument(
        "--from", dest="source", type=Path, default=None, help="a run kept as JSON: write the README from it, run none"
    )
    args = parser.parse_args(argv)
    if args.source is not None:
        if args.readme is None:
            parser.error("--from writes a README from a kept run: give --readme too")
        record = json.loads(args.source.read_text())
        write_readme(args.readme, readme_section(record, _shown(args.source)))
        print(f"wrote {args.readme}", file=sys.stderr)
        return
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
    record = run_record(results, host, script_args)
    kept = out.with_suffix(".json")
    kept.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} and {kept}", file=sys.stderr)
    if args.readme is not None:
        write_readme(args.readme, readme_section(record, _shown(kept)))
        print(f"wrote {args.readme}", file=sys.stderr)


def _shown(path: Path) -> str:
    """``path`` relative to the project where it lies inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
