"""A Hydra callback that ends a multirun with a summary: every run ranked by its validation reward, with its
trained policy's score on the test window as its evaluation reported it (the LP's excess return over holding,
a trading or market role's PnL; a co-training run's per role)."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback

COLUMNS = ("rank", "run", "overrides", "best_validation_reward", "timesteps", "fps", "test_metric", "test_score")
#: what a trained policy's report scores it by, first found: the LP's excess return, a role's PnL
TEST_METRICS = ("excess_return_vs_hodl", "pnl_usd")
TRAINED = ("/model", "/rl_module")  # the trained policy's name in a report: <run or role>/model, <role>/rl_module


def trained_score(report_file: Path) -> tuple[str, float] | None:
    """(metric, value) of the trained policy in one evaluation report, or None if it lists none."""
    policies = json.loads(report_file.read_text())["policies"]
    trained = [m for name, m in policies.items() if name.endswith(TRAINED)]
    if not trained:
        return None
    metric = next((k for k in TEST_METRICS if trained[0].get(k) is not None), None)
    return None if metric is None else (metric, float(trained[0][metric]))


def run_score(run: Path) -> tuple[str | None, float | str | None]:
    """The run's test metric and score: its ``eval/report.json``, or for a co-training run each role's
    ``eval/<role>/report.json`` as ``role=value`` pairs."""
    single = run / "eval" / "report.json"
    if single.is_file():
        found = trained_score(single)
        return found if found is not None else (None, None)
    found_per_role = {f.parent.name: trained_score(f) for f in sorted((run / "eval").glob("*/report.json"))}
    roles = {role: found for role, found in found_per_role.items() if found is not None}
    if not roles:
        return None, None
    metrics = sorted({metric for metric, _ in roles.values()})
    return "/".join(metrics), "; ".join(f"{role}={value:.6g}" for role, (_, value) in roles.items())


def summarize(sweep_dir: str | Path) -> list[dict]:
    """Rows for every finished run under ``sweep_dir``, best validation reward first."""
    rows = []
    for metrics_file in sorted(Path(sweep_dir).glob("*/train_metrics.json")):
        run = metrics_file.parent
        metrics = json.loads(metrics_file.read_text())
        overrides_file = run / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        try:
            metric, score = run_score(run)
        except (OSError, ValueError, KeyError, TypeError) as err:  # e.g. a run killed while writing its report
            print(
                f"sweep summary: {run.name}'s evaluation report is unreadable ({err!r}): its score is left blank",
                file=sys.stderr,
            )
            metric, score = None, None
        blocks, seconds = metrics.get("blocks"), metrics.get("seconds")  # a co-training run counts blocks
        rows.append(
            {
                "run": run.name,
                "overrides": " ".join(overrides),
                "best_validation_reward": metrics.get("best_validation_reward"),
                "timesteps": metrics.get("timesteps", blocks),
                "fps": metrics.get("fps", round(blocks / seconds, 1) if blocks and seconds else None),
                "test_metric": metric,
                "test_score": score,
            }
        )
    rows.sort(key=lambda r: -r["best_validation_reward"] if finite(r["best_validation_reward"]) else float("inf"))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def finite(value: Any) -> bool:
    """A number to rank by: not None, not NaN or infinite (a run without validation ranks last)."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def write_summary(sweep_dir: str | Path) -> Path:
    sweep_dir = Path(sweep_dir)
    rows = summarize(sweep_dir)
    with (sweep_dir / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [
        "| "
        + " | ".join("" if r[c] is None else (f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c])) for c in COLUMNS)
        + " |"
        for r in rows
    ]
    path = sweep_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


class SweepSummary(Callback):
    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        path = write_summary(config.hydra.sweep.dir)
        print(path.read_text())
        print(path)
