"""env.flow=replay: the LP env on a real recorded day, the agent acting between its blocks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.data.events import EventDataError, write_events
from envs.data.readers import read_export

ROOT = Path(__file__).resolve().parents[1]
DAY = ROOT.parent / "shared" / "data" / "uniswap_v3" / "usdc_weth_3000_events_2024-01-05.csv"
ID = "defigym/UniswapV3LP-v0"


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    records, metadata = read_export(DAY)
    return write_events(records, tmp_path_factory.mktemp("events") / "day.parquet", {**metadata, "fee_pips": "3000"})


def _env(day: Path, **kwargs):
    return gym.make(ID, horizon=23, fee_pips=3000, world={"flow": "replay", "flow_file": str(day)}, **kwargs)


def test_without_the_agents_liquidity_the_pool_follows_the_recorded_day_exactly(day):
    env = _env(day)
    env.reset(seed=0)
    market = env.unwrapped.core.market
    for _ in range(23):
        env.step(0)  # hold: no position
        assert market.pool_price()[0] == pytest.approx(market.reference_price()[0], rel=1e-9)
    assert market.replay.report.swaps > 200 and market.replay.report.max_rel_err_sqrt_price < 1e-9
    env.close()


def test_an_lp_earns_the_days_fees_and_moves_the_pool_only_by_its_own_liquidity(day):
    env = _env(day)
    env.reset(seed=0)
    fees = 0.0
    for t in range(23):
        _, _, _, _, info = env.step(3 if t == 0 else 0)
        fees += info["fees_usd"]
    market = env.unwrapped.core.market
    assert fees > 10.0
    assert market.replay.report.max_rel_err_sqrt_price < 1e-3  # its liquidity changes each swap's impact a little
    env.close()


def test_a_batch_is_many_strategies_on_one_history(day):
    vec = gym.make_vec(
        ID,
        num_envs=3,
        vectorization_mode="vector_entry_point",
        horizon=23,
        fee_pips=3000,
        world={"flow": "replay", "flow_file": str(day)},
    )
    vec.reset(seed=1)
    totals = np.zeros(3)
    for t in range(23):
        _, reward, _, _, _ = vec.step(np.array([3, 3, 0]) if t == 0 else np.zeros(3, int))
        totals += reward
    assert totals[0] == pytest.approx(totals[1], rel=1e-12) and totals[0] != totals[2]
    vec.close()


def test_a_replay_window_keeps_episodes_inside_its_share_of_the_recorded_days(day):
    horizon, dt = 6, 3600.0
    env = gym.make(
        ID,
        horizon=horizon,
        fee_pips=3000,
        world={"flow": "replay", "flow_file": str(day), "replay_window": (0.5, 1.0)},
    )
    market = env.unwrapped.core.market
    first, span = market._times[0], market.span
    starts = set()
    for seed in range(4):
        env.reset(seed=seed)
        start = float(market.clock[0])
        starts.add(start)
        assert first + 0.5 * span <= start <= first + span - horizon * dt
        applied = market._next
        assert applied > 0 and market._times[applied - 1] < start <= market._times[applied]  # the day so far is applied
        for _ in range(horizon):
            env.step(0)
        assert float(market.clock[0]) <= first + span
    assert len(starts) == 4  # each reset starts at a time of its own
    with pytest.raises(ValueError, match="shorten env.horizon or widen the window"):
        gym.make(
            ID, horizon=23, fee_pips=3000, world={"flow": "replay", "flow_file": str(day), "replay_window": (0.5, 1.0)}
        )
    with pytest.raises(ValueError, match="replay_window"):
        gym.make(
            ID, horizon=2, fee_pips=3000, world={"flow": "replay", "flow_file": str(day), "replay_window": (0.7, 0.2)}
        )
    env.close()


def test_replay_errors_name_the_fix(day, tmp_path):
    with pytest.raises(ValueError, match="backend=numpy or torch"):
        gym.make(ID, backend="evm", horizon=4, fee_pips=3000, world={"flow": "replay", "flow_file": str(day)})
    with pytest.raises(ValueError, match="needs flow_file"):
        gym.make(ID, horizon=4, world={"flow": "replay"})
    with pytest.raises(EventDataError, match="env.fee_pips=3000"):
        gym.make(ID, horizon=4, fee_pips=500, world={"flow": "replay", "flow_file": str(day)})


def test_evaluate_py_compares_the_baselines_on_the_replayed_day(day, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            "env.flow=replay",
            f"env.flow_file={day}",
            "env.fee_pips=3000",
            "env.horizon=23",
            "eval.backend=numpy",
            "eval.episodes=1",
            "eval.window=[0,1]",
            "eval.policies=[baseline:passive_lp,baseline:hodl]",
            "eval.plots=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    text = json.dumps(report)
    assert "passive_lp" in text and "hodl" in text


def test_training_refuses_a_replay_whose_test_window_cannot_hold_an_episode(day, tmp_path):
    from agents.config import check
    from tests.configs import config

    cfg = config("env.flow=replay", f"env.flow_file={day}", "env.fee_pips=3000", "env.horizon=6")
    check(cfg, [0.0, 1.0])  # evaluating over the whole day: fits
    with pytest.raises(ValueError, match=r"the replay window \[0.7, 0.85\] holds 3.\d h of events"):
        check(cfg)  # training: its validation window, 15% of the day, cannot hold 6 h
