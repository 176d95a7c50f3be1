"""The Aave markets calibrated to real reserves: the rate-curve fit recovers a known curve, the shipped
calibration predicts the held-out days, and a simulated episode runs at the real utilization and rate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from envs.aave_leverage import AaveLeverageVectorEnv
from envs.data.__main__ import main as data_cli
from envs.flows.borrow_demand import DEFAULT_CALIBRATION, RateCurve, calibration_path, load_calibration
from envs.flows.lending_fit import COLUMNS, LendingDataError, fit_and_validate, read_reserves
from envs.worlds.lending import LendingParams

ROOT = Path(__file__).resolve().parent.parent
RESERVES = ROOT.parent / "shared" / "data" / "aave" / "aave_v3_reserves_daily_2025-2026.csv"
needs_data = pytest.mark.skipif(not RESERVES.exists(), reason=f"{RESERVES} is not here")
#: the held-out errors the shipped curves must stay within, on the yearly borrow and supply rates
RATE_MEAN_TOL, RATE_MAX_TOL = 1e-4, 2e-4  # 1 and 2 basis points
LEVEL_TOL = 0.05  # fitted utilization level vs the held-out days' mean


def _write(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _synthetic_days(curves: list[tuple[int, RateCurve]], rf: float, symbol: str, days: int, seed: int) -> list[dict]:
    """Days whose rates the protocol's formula makes from utilizations across the kink, rounded to six
    decimals as the real file is; ``curves`` are (first day, curve) regimes."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(days):
        u = rng.uniform(0.5, 0.98)
        curve = [c for start, c in curves if start <= day][-1]
        supply, borrow = curve.rates(np.array([u]), rf)
        date = np.datetime64("2025-01-01") + np.timedelta64(day, "D")
        rows.append(
            {
                "generated_at": f"{date}T00:15:00+00:00",
                "network": "ethereum",
                "symbol": symbol,
                "current_liquidity_rate": f"{supply[0]:.6f}",
                "current_variable_borrow_rate": f"{borrow[0]:.6f}",
                "reserve_factor": rf,
            }
        )
    return rows


def test_the_fit_recovers_the_latest_curve_from_synthetic_days(tmp_path):
    old, usdc = RateCurve(0.0, 0.08, 0.35, 0.92), RateCurve(0.002, 0.05, 0.5, 0.85)
    weth = RateCurve(0.0, 0.03, 0.7, 0.8)
    rows = _synthetic_days([(0, old), (60, usdc)], 0.1, "USDC", 200, seed=1) + _synthetic_days(
        [(0, weth)], 0.15, "WETH", 200, seed=2
    )
    calibration = fit_and_validate(_write(tmp_path / "days.csv", rows))
    for symbol, truth, rf in (("USDC", usdc, 0.1), ("WETH", weth, 0.15)):
        got, report = calibration.reserves[symbol], calibration.fit["reserves"][symbol]
        assert got.reserve_factor == rf
        for name in ("base", "slope1", "slope2", "optimal"):
            assert abs(getattr(got.curve, name) - getattr(truth, name)) <= 5e-4 + 0.02 * getattr(truth, name), name
        assert report["borrow_rate_abs_error"]["max"] < 2e-5  # the formula, with six-decimal rates
        assert report["held_out_days_within_tol"] == 1.0
    assert calibration.fit["reserves"]["USDC"]["curve_from"] == "2025-03-02"  # day 60: where the new curve began


@needs_data
def test_the_shipped_calibration_is_what_the_command_writes_and_predicts_the_held_out_days(tmp_path):
    shipped = load_calibration(DEFAULT_CALIBRATION)
    out = tmp_path / "lending.json"
    assert data_cli(["fit-lending", "--reserves", str(RESERVES), "--out", str(out)]) == 0
    _assert_same(json.loads(out.read_text()), json.loads(calibration_path(DEFAULT_CALIBRATION).read_text()))
    days = read_reserves(RESERVES, "ethereum", ("USDC", "WETH"))
    for symbol, reserve in shipped.reserves.items():
        held = days[symbol].take(slice(int(round(len(days[symbol].dates) * 0.8)), None))
        supply, borrow = reserve.curve.rates(held.utilization, reserve.reserve_factor)
        for model, real in ((borrow, held.borrow_rate), (supply, held.supply_rate)):
            assert np.mean(np.abs(model - real)) < RATE_MEAN_TOL and np.max(np.abs(model - real)) < RATE_MAX_TOL
        assert abs(reserve.curve.utilization_at(reserve.demand.level) - np.mean(held.utilization)) < LEVEL_TOL


def _assert_same(written, shipped, where: str = "") -> None:
    """The same fields and values, numbers to 1e-9 relative: the last digits of a least-squares fit follow the
    machine's floating-point kernels."""
    if isinstance(shipped, dict):
        assert isinstance(written, dict) and written.keys() == shipped.keys(), where
        for key in shipped:
            _assert_same(written[key], shipped[key], f"{where}.{key}")
    elif isinstance(shipped, list):
        assert isinstance(written, list) and len(written) == len(shipped), where
        for i, (w, s) in enumerate(zip(written, shipped)):
            _assert_same(w, s, f"{where}[{i}]")
    elif isinstance(shipped, float):
        assert written == pytest.approx(shipped, rel=1e-9, abs=1e-15), where
    else:
        assert written == shipped, where


def _episode(calibration: str, steps: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(USDC utilization, USDC borrow rate, WETH utilization) each hour of an AaveLeverage episode, 8 worlds."""
    env = AaveLeverageVectorEnv(num_envs=8, horizon=steps, lending={"calibration": calibration})
    env.reset(seed=0)
    market, usdc, weth, rate = env.core.market, [], [], []
    for t in range(steps):
        env.step(np.full(8, 3 if t < steps // 2 else 1))  # lever to 50% LTV, then all the way down
        usdc.append(market.lending.utilization("USDC"))
        weth.append(market.lending.utilization("WETH"))
        pool = market.lending.pool
        rate.append(market.b.to_numpy(pool.state.variable_borrow_rate[:, pool.usdc_r]))
    return np.array(usdc), np.array(rate), np.array(weth)


@needs_data
def test_an_aave_leverage_episode_runs_at_the_real_utilization_and_rate():
    days = read_reserves(RESERVES, "ethereum", ("USDC", "WETH"))
    held = {s: d.take(slice(int(round(len(d.dates) * 0.8)), None)) for s, d in days.items()}
    usdc, rate, weth = _episode(DEFAULT_CALIBRATION)
    real_u, real_rate = held["USDC"].utilization, held["USDC"].borrow_rate
    low, high = np.quantile(usdc, [0.05, 0.95])
    assert real_u.min() <= low and high <= real_u.max()
    assert real_rate.min() <= np.median(rate) <= real_rate.max()
    real_weth = held["WETH"].utilization
    assert real_weth.min() - LEVEL_TOL <= np.median(weth) <= real_weth.max() + LEVEL_TOL
    uncalibrated, _, idle = _episode("none", steps=8)
    assert np.median(uncalibrated) < 0.1 and np.all(idle == 0)  # today's invented market, on request


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(LendingDataError, match="no such file"):
        fit_and_validate(tmp_path / "missing.csv")
    row = {
        "generated_at": "2025-07-22T21:38:59+00:00",
        "network": "ethereum",
        "symbol": "USDC",
        "current_liquidity_rate": "0.038",
        "current_variable_borrow_rate": "0.05",
        "reserve_factor": "0.1",
    }
    with pytest.raises(LendingDataError, match=r"lacks the column\(s\) \['reserve_factor'\]"):
        fit_and_validate(_write(tmp_path / "short.csv", [row], COLUMNS[:-1]))
    with pytest.raises(LendingDataError, match=r"1 days of USDC on ethereum .* pick --network/--symbols"):
        fit_and_validate(_write(tmp_path / "one.csv", [row]))
    with pytest.raises(LendingDataError, match="line 2: could not convert"):
        fit_and_validate(_write(tmp_path / "text.csv", [row | {"current_liquidity_rate": "n/a"}]))
    with pytest.raises(LendingDataError, match="line 2: rates must be non-negative"):
        fit_and_validate(_write(tmp_path / "neg.csv", [row | {"current_variable_borrow_rate": "-0.01"}]))
    with pytest.raises(LendingDataError, match="no reserve \\['DAI'\\]"):
        fit_and_validate(tmp_path / "missing.csv", symbols=("DAI",))
    with pytest.raises(ValueError, match="neither a shipped calibration .* 'none'"):
        LendingParams(calibration="aave_v2_polygon")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="is not a lending calibration"):
        LendingParams(calibration=str(bad))
    assert data_cli(["fit-lending", "--reserves", str(tmp_path / "missing.csv"), "--out", str(bad)]) == 2
