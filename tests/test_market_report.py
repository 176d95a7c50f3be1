"""The multi-agent market's evaluation report (evaluate.py env=defi_market, on numpy): each role's PnL is the
sum of its agents' episode PnL in episodes_<policy>.csv, the block accounts are summed once per block (not
once per agent) and close, the agents' own figures add up to the market's, and the plots follow eval.plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import _safe
from envs.defi_market_v0 import agent_role
from evaluate import evaluate
from tests.configs import config

ROOT = Path(__file__).resolve().parents[1]
#: two arbitrageurs learn (as one policy); an LP, a liquidator, a borrower and a trader play baselines
MARKET = [
    "env=defi_market",
    "env.train_role=arbitrageur",
    "env.n_borrowers=1",
    "env.n_traders=1",
    "env.compete=0",  # no scripted arbitrageur: the agents make all the arbitrage
    "env.order=random",  # no priority fees: the producer gets the gas alone
    "env.agent_usd=100000",
    "driver=gbm",
    "driver.dt=60",
]
PLOTS = {"roles.png", "agents.png", "accounts.png"}


def report_of(out_dir: Path, *overrides: str) -> dict:
    return json.loads(evaluate(config(*MARKET, *overrides), out_dir, "numpy").read_text())


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[Path, dict]:
    out_dir = tmp_path_factory.mktemp("market_eval")
    return out_dir, report_of(out_dir, "env.horizon=12", "eval.episodes=3", "eval.plots=true")


def test_each_role_and_agent_pnl_is_read_off_the_episodes(evaluated):
    out_dir, report = evaluated
    assert report["policies"]
    for name, policy in report["policies"].items():
        csv = out_dir / f"episodes_{_safe(name)}.csv"
        agents = csv.read_text().splitlines()[0].split(",")
        episodes = dict(zip(agents, np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2).T))
        assert sorted(a for r in policy["roles"].values() for a in r["agents"]) == sorted(agents)
        assert {agent_role(a)[0] for a in agents} == set(policy["roles"]) and len(policy["roles"]) == 5
        for role, summary in policy["roles"].items():
            summed = np.sum([episodes[a] for a in summary["agents"]], axis=0)
            assert summary["pnl_usd"] == pytest.approx(summed.mean())
            assert summary["pnl_usd_std"] == pytest.approx(summed.std())
            assert summary["pnl_usd_per_agent"] == pytest.approx(summed.mean() / len(summary["agents"]))
        assert policy["pnl_usd"] == pytest.approx(policy["roles"]["arbitrageur"]["pnl_usd_per_agent"])
        assert policy["roles"]["arbitrageur"]["agents"] == ["arbitrageur_0", "arbitrageur_1"]
        assert policy["role_agents"] == 2 and policy["episodes"] == 3
        for a in agents:
            assert policy["agents"][a]["pnl_usd"] == pytest.approx(episodes[a].mean())
            if agent_role(a)[0] != "arbitrageur":
                assert policy[f"pnl_usd_of_{a}"] == pytest.approx(episodes[a].mean())


def test_the_block_accounts_close_and_match_the_agents_figures(evaluated):
    _, report = evaluated
    for policy in report["policies"].values():
        market, agents = policy["market"], policy["agents"]
        assert market["block_lp_fees_usd"] > 1.0  # the flow paid the LPs
        assert abs(market["block_imbalance_usd"]) < 1e-3  # every swap's dollar is attributed
        assert market["block_lvr_usd"] > 1.0  # the arbitrageurs traded
        assert market["block_lvr_usd"] == pytest.approx(
            market["block_arbitrage_profit_usd"] + market["block_arbitrage_fees_usd"], abs=1e-3
        )
        # the market's accounts are counted once per block, so they equal what the agents themselves report
        arbitrage = sum(agents[a]["profit_usd"] for a in ("arbitrageur_0", "arbitrageur_1"))
        assert market["block_arbitrage_profit_usd"] == pytest.approx(arbitrage, abs=1e-6)
        assert market["block_producer_usd"] == pytest.approx(sum(a["gas_usd"] for a in agents.values()), abs=1e-6)
        assert market["block_producer_usd"] > 0
        # levels are kept, not summed over the episode's 12 blocks: the LP's value at the end, the lowest health
        assert 0.5e5 < agents["liquidity_provider_0"]["value_usd_last"] < 2e5
        assert 0 < agents["borrower_0"]["health_factor_min"] <= 1e3


def test_plots_are_written_when_eval_plots_is_on_and_only_then(evaluated, tmp_path):
    out_dir, report = evaluated
    assert set(report["plots"]) == PLOTS
    assert all((out_dir / p).stat().st_size > 0 for p in PLOTS)
    quiet = report_of(tmp_path, "env.horizon=2", "eval.episodes=1", "eval.plots=false")
    assert "plots" not in quiet and not list(tmp_path.glob("*.png"))
