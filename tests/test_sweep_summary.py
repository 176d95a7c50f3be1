"""A multirun's summary scores each run by what its evaluation reported: a single-role market run by its
trained policy's PnL, a co-training run by each role's (SB3 model.zip or RLlib rl_module alike); a run
without a finite validation reward ranks last and an unreadable report leaves its score blank."""

from __future__ import annotations

import csv
import json

import numpy as np

from agents.market_evaluation import write_report
from agents.sweep_summary import write_summary


def finished_run(run, validation: float | None) -> None:
    run.mkdir(parents=True)
    metrics = {"timesteps": 100, "fps": 10.0} | ({} if validation is None else {"best_validation_reward": validation})
    (run / "train_metrics.json").write_text(json.dumps(metrics))


def test_market_and_co_training_runs_are_scored_by_their_trained_policies(tmp_path):
    rng = np.random.default_rng(0)
    episodes = {a: rng.normal(100.0, 5.0, 4) for a in ("arbitrageur_0", "arbitrageur_1", "liquidity_provider_0")}
    greedy = {a: r + 50.0 for a, r in episodes.items()}

    finished_run(tmp_path / "0", validation=2.0)  # one role learned: eval/report.json
    write_report(tmp_path / "0" / "eval", "arbitrageur", {"0/model": episodes, "greedy_arbitrageur": greedy}, {})
    finished_run(tmp_path / "1", validation=None)  # co-trained: eval/<role>/report.json
    for role in ("arbitrageur", "liquidity_provider"):
        write_report(tmp_path / "1" / "eval" / role, role, {f"{role}/rl_module": episodes, "baseline": greedy}, {})

    finished_run(tmp_path / "2", validation=float("nan"))  # a diverged run, killed while writing its report
    (tmp_path / "2" / "eval").mkdir()
    (tmp_path / "2" / "eval" / "report.json").write_text('{"policies": {"2/mod')
    finished_run(tmp_path / "3", validation=1.0)

    write_summary(tmp_path)
    ranked = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [r["run"] for r in ranked][:2] == ["0", "3"]  # ranked by validation; NaN and none after them
    rows = {r["run"]: r for r in ranked}
    assert rows["2"]["test_score"] == "" and rows["3"]["test_score"] == ""
    arbitrage = (episodes["arbitrageur_0"] + episodes["arbitrageur_1"]) / 2  # the role's PnL per agent and episode
    assert rows["0"]["rank"] == "1" and rows["0"]["test_metric"] == "pnl_usd"
    assert float(rows["0"]["test_score"]) == float(arbitrage.mean())  # the trained policy's, not the baseline's
    scores = dict(pair.split("=") for pair in rows["1"]["test_score"].split("; "))
    assert float(scores["arbitrageur"]) == float(f"{arbitrage.mean():.6g}")
    assert float(scores["liquidity_provider"]) == float(f"{episodes['liquidity_provider_0'].mean():.6g}")
