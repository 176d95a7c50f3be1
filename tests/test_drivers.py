"""Price drivers: the right statistics, reproducible from a seed, and honest about their data."""

from __future__ import annotations

import numpy as np
import pytest

from envs.drivers import (
    GBMDriver,
    HistoricalDriver,
    JumpDiffusionDriver,
    RegimeSwitchingDriver,
    load_price_csv,
    make_driver,
)
from envs.drivers.base import SECONDS_PER_YEAR


def _log_returns(driver, n=20_000, steps=50, seed=0):
    prices = [driver.reset(np.random.default_rng(seed), n)] + [driver.step() for _ in range(steps)]
    return np.diff(np.log(np.stack(prices)), axis=0)


def test_gbm_log_returns_have_the_drift_and_volatility_asked_for():
    driver = GBMDriver(s0=2000, mu=0.3, sigma=0.8, dt=3600)
    r = _log_returns(driver)
    dt = 3600 / SECONDS_PER_YEAR
    n = r.size
    assert r.mean() == pytest.approx((0.3 - 0.32) * dt, abs=4 * 0.8 * np.sqrt(dt / n))
    assert r.std() == pytest.approx(0.8 * np.sqrt(dt), rel=4 * np.sqrt(2 / n))


def test_jump_diffusion_keeps_the_mean_price_and_fattens_the_tails():
    driver = JumpDiffusionDriver(s0=1000, mu=0.0, sigma=0.5, jump_intensity=200, jump_mean=-0.05, jump_std=0.05)
    prices = driver.reset(np.random.default_rng(1), 50_000)
    for _ in range(24):
        prices = driver.step()
    assert prices.mean() == pytest.approx(1000, rel=4 * prices.std() / 1000 / np.sqrt(prices.size))
    r = _log_returns(driver, n=20_000, steps=10)
    kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurtosis > 4  # a normal has 3


def test_regime_switching_spends_time_in_each_regime_as_its_durations_say():
    driver = RegimeSwitchingDriver(sigmas=(0.3, 1.5), mean_durations=(3 * 86400, 86400), dt=3600)
    driver.reset(np.random.default_rng(2), 2000)
    share_turbulent = np.mean([(driver.step(), driver.regime.mean())[1] for _ in range(500)][100:])
    assert share_turbulent == pytest.approx(1 / 4, abs=0.03)  # 1 day of every 4


@pytest.mark.parametrize("name", ["gbm", "jump_diffusion", "regime_switching", "historical"])
def test_same_seed_same_path(name):
    runs = []
    for _ in range(2):
        driver = make_driver(name)
        runs.append(np.stack([driver.reset(np.random.default_rng(7), 8)] + [driver.step() for _ in range(20)]))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_default_eth_path_ships_with_the_project_and_reports_its_gaps():
    path = load_price_csv()
    assert len(path.prices) > 18_000 and np.all(np.diff(path.timestamps) == 3600)
    assert path.gaps and max(g.end - g.start for g in path.gaps) > 11 * 3600  # the 12 h hole of October 2022
    assert 700 < path.prices[0] < 800  # ETH on 2021-01-01


def test_replay_resamples_onto_the_step_grid_and_reports_what_it_filled(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("time,close\n0,100\n60,101\n120,102\n600,110\n660,111\n")
    path = load_price_csv(csv, dt=60, timestamp_column="time", price_column="close", timestamp_unit="s")
    np.testing.assert_array_equal(path.prices, [100, 101, 102, 102, 102, 102, 102, 102, 102, 102, 110, 111])
    assert len(path.gaps) == 1 and path.gaps[0].filled_steps == 7
    driver = HistoricalDriver(csv, dt=60, start=0, horizon=5, timestamp_column="time", price_column="close")
    driver.reset(np.random.default_rng(0), 2)
    assert [float(driver.step()[0]) for _ in range(5)] == [101, 102, 102, 102, 102]
    with pytest.raises(RuntimeError, match="horizon"):
        driver.step()


@pytest.mark.parametrize(
    "content, message",
    [
        ("t,price\n0,100\n", "no column 'timestamp'"),
        ("timestamp,USD_price\n0,100\n60,abc\n", r":3: cannot read"),
        ("timestamp,USD_price\n0,100\n60,-5\n", "positive"),
        ("timestamp,USD_price\n60,100\n0,101\n", "must increase"),
    ],
)
def test_malformed_csv_names_the_line_and_the_fix(tmp_path, content, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_price_csv(csv, dt=60)


def test_bad_driver_options_are_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        make_driver("brownian")
    with pytest.raises(ValueError, match="dt must be"):
        GBMDriver(dt=0)
    with pytest.raises(ValueError, match="horizon"):
        HistoricalDriver(horizon=10**7)


def test_a_bridge_passes_through_every_observation_with_the_datas_own_variance_between(tmp_path):
    """Observations a minute apart, steps of 12 s: every fifth step lands on an observation exactly, and
    the steps between have the realized variance per second of the data (and the bridge's shape: the
    middle of a minute varies most)."""
    rng = np.random.default_rng(5)
    minutes = 400
    log_prices = np.log(2000) + np.cumsum(0.002 * rng.standard_normal(minutes))
    csv = tmp_path / "minutes.csv"
    csv.write_text("time,close\n" + "".join(f"{60 * i},{float(np.exp(x))!r}\n" for i, x in enumerate(log_prices)))
    driver = HistoricalDriver(
        csv, dt=12, start=0, horizon=5 * (minutes - 2), timestamp_column="time", price_column="close", fill="bridge"
    )
    paths = np.stack([driver.reset(np.random.default_rng(1), 3000)] + [driver.step() for _ in range(driver.horizon)])
    on_minutes = paths[::5]
    np.testing.assert_allclose(
        on_minutes, np.exp(log_prices[: len(on_minutes)])[:, None] * np.ones((1, 3000)), rtol=1e-12
    )
    steps = np.diff(np.log(paths), axis=0)
    var_per_second = np.mean(np.diff(log_prices) ** 2) / 60
    assert np.mean(steps**2) / 12 == pytest.approx(var_per_second, rel=0.05)
    middle = np.log(paths[2::5]).std(axis=1).mean()  # 24 s into each minute: sqrt(var 24 * 36 / 60)
    assert middle == pytest.approx(np.sqrt(var_per_second * 24 * 36 / 60), rel=0.05)
    holding = HistoricalDriver(csv, dt=12, start=0, horizon=10, timestamp_column="time", price_column="close")
    assert holding.reset(np.random.default_rng(1), 1)[0] == pytest.approx(np.exp(log_prices[0]))


def test_rows_without_a_price_are_left_out_and_reported_or_refused(tmp_path):
    csv = tmp_path / "holes.csv"
    csv.write_text("timestamp,USD_price\n0,100\n60,\n120,102\n180,103\n")
    path = load_price_csv(csv, dt=60)
    assert path.skipped_lines == (3,) and list(path.observed_prices) == [100, 102, 103]
    with pytest.raises(ValueError, match=":3: no price"):
        load_price_csv(csv, dt=60, missing="error")
    with pytest.raises(ValueError, match="fill="):
        HistoricalDriver(csv, dt=60, horizon=1, fill="linear")


def test_one_key_points_the_tools_at_a_price_file_and_a_date(tmp_path):
    """driver.path, driver.price_column and driver.start (a date) as first-class config keys."""
    import subprocess
    import sys
    from pathlib import Path

    csv = tmp_path / "bars.csv"
    csv.write_text(
        "when,close\n" + "".join(f"2024-03-0{1 + i // 24}T{i % 24:02d}:00:00,{2000 + i}\n" for i in range(72))
    )
    driver = HistoricalDriver(
        csv, dt=3600, start="2024-03-02T00:00:00", horizon=5, timestamp_column="when", price_column="close"
    )
    assert driver.reset(np.random.default_rng(0), 1)[0] == 2024.0
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            f"driver.path={csv}",
            "driver.price_column=close",
            "driver.timestamp_column=when",
            "driver.start=2024-03-02T00:00:00",
            "env.flow=toy",
            "env.horizon=6",
            "eval.backend=numpy",
            "eval.episodes=1",
            "eval.policies=[baseline:hodl]",
            "eval.plots=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    bad = subprocess.run(
        [sys.executable, "evaluate.py", "driver=gbm", f"driver.path={csv}", f"hydra.run.dir={tmp_path}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "needs driver=historical" in bad.stderr
