"""A Hydra callback that ends a multirun with a summary: every run ranked by its validation reward."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback

COLUMNS = ("rank", "run", "overrides", "best_validation_reward", "timesteps", "fps", "test_excess_return_vs_hodl")


def summarize(sweep_dir: str | Path) -> list[dict]:
    """Rows for every finished run under ``sweep_dir``, best validation reward first."""
    rows = []
    for metrics_file in sorted(Path(sweep_dir).glob("*/train_metrics.json")):
        run = metrics_file.parent
        metrics = json.loads(metrics_file.read_text())
        overrides_file = run / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        report_file = run / "eval" / "report.json"
        excess = None
        if report_file.is_file():
            trained = [
                m for name, m in json.loads(report_file.read_text())["policies"].items() if name.endswith("/model")
            ]
            excess = trained[0]["excess_return_vs_hodl"] if trained else None
        rows.append(
            {
                "run": run.name,
                "overrides": " ".join(overrides),
                "best_validation_reward": metrics.get("best_validation_reward"),
                "timesteps": metrics.get("timesteps"),
                "fps": metrics.get("fps"),
                "test_excess_return_vs_hodl": excess,
            }
        )
    rows.sort(key=lambda r: -float("inf") if r["best_validation_reward"] is None else -r["best_validation_reward"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


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
