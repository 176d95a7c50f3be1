"""Turnover (daily volume / TVL) of simulated worlds beside a real pool's: the reader takes the real days
as the file has them, the simulated volume counts every swap of the market's own flows, and the command
line prints one line per window."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from envs.data.__main__ import main as data_cli
from envs.data.events import EventDataError
from envs.data.pool_days import read_pool_days
from envs.drivers import make_driver
from envs.liquidity_profile import FITTED_BACKGROUNDS
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v3_pool import pool_swap

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
POOL_DAYS = DATA / "uniswap_v3" / "pool_day_data_8_pools_2021-2025.csv"
PRICES = DATA / "prices" / "eth_usd_hourly_2021-2023.csv"
WETH_USDT_3000 = "0x4e68ccd3e89f51c3074ca5072bbac773960dfa36"


def test_the_real_turnover_is_each_days_volume_over_its_tvl():
    days = read_pool_days(POOL_DAYS, WETH_USDT_3000.upper().replace("0X", "0x"), "2021-08-31", "2021-09-05")
    with POOL_DAYS.open() as f:
        rows = [
            r for r in csv.DictReader(f) if r["pool"] == WETH_USDT_3000 and "2021-08-31" <= r["date"] <= "2021-09-05"
        ]
    assert days.dates == tuple(r["date"] for r in rows) and len(rows) == 6
    assert np.allclose(days.turnover, [float(r["volumeUSD"]) / float(r["tvlUSD"]) for r in rows], rtol=1e-12)


def test_bad_pool_data_is_refused_naming_the_problem(tmp_path):
    with pytest.raises(EventDataError, match="no day of pool 0xdead"):
        read_pool_days(POOL_DAYS, "0xdead", "2021-08-31", "2021-09-05")
    bad = tmp_path / "days.csv"
    bad.write_text("date,pool,volumeUSD\n2021-08-31,0xabc,1\n")
    with pytest.raises(EventDataError, match=r"\['tvlUSD'\] are missing"):
        read_pool_days(bad, "0xabc", "2021-08-31", "2021-08-31")


def test_the_flow_volume_counts_every_swap_of_the_markets_flows(monkeypatch):
    """The world's flow_volume_usd equals the USD value of every swap input the arbitrageur and the noise
    traders sent, counted independently at the pool's swap entry point."""
    import envs.worlds.sim as sim
    import envs.worlds.v3_pool as v3_pool

    counted = np.zeros(4)
    world = UniswapV3World(
        4, make_driver("gbm", dt=3600.0, sigma=0.8), V3WorldParams(fee_pips=3000), sim.array_backend("numpy")
    )
    world.count_flow_volume = True
    world.reset(np.random.default_rng(3), 1.0)

    def counting_swap(state, params, zero_for_one, amount_in, limit, active):
        result = pool_swap(state, params, zero_for_one, amount_in, limit, active)
        raw = np.asarray(result.amount_in)
        counted[:] += np.where(np.asarray(zero_for_one), raw / 1e6, raw / 1e18 * world.reference_price())
        return result

    monkeypatch.setattr(v3_pool, "pool_swap", counting_swap)
    for _ in range(48):
        world.step()
    assert counted.min() > 0
    assert np.allclose(world.flow_volume_usd, counted, rtol=1e-12)


def test_check_turnover_prints_model_and_real_per_window(capsys):
    assert (
        data_cli(
            [
                "check-turnover",
                str(POOL_DAYS),
                "--pool",
                WETH_USDT_3000,
                "--start",
                "2021-09-01",
                "--days",
                "2",
                "--prices",
                str(PRICES),
                "--worlds",
                "4",
            ]
        )
        == 0
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["days"] == 2 and line["model"] > 0 and line["real_min"] <= line["real"] <= line["real_max"]
    assert line["error"] == pytest.approx(line["model"] / line["real"] - 1)
    assert (
        data_cli(
            [
                "check-turnover",
                str(POOL_DAYS),
                "--pool",
                WETH_USDT_3000,
                "--start",
                "2021-09-01",
                "--days",
                "2",
                "3",
                "--prices",
                str(PRICES),
            ]
        )
        == 2
    )


#: the background fitted on the 21 training days' turnover (README): a re-centring LP of ±2,400 ticks with
#: 30% of the value, the rest half in ±30% and half over the full range; the configs' default at 0.3%
FITTED = dict(zip(("recentering_lps", "liquidity_profile"), FITTED_BACKGROUNDS[3000]))


def test_the_fitted_background_trades_as_much_as_the_real_pool_on_held_out_days():
    """Turnover on the six held-out days within 25% of WETH/USDT 0.3%'s; the static default's is not
    even on the fitted days (its ranges never move)."""
    from envs.worlds.turnover import check_turnover

    def error(start: str, days: int, **world) -> float:
        return check_turnover(
            POOL_DAYS,
            WETH_USDT_3000,
            start,
            days,
            V3WorldParams(fee_pips=3000, flow="calibrated", **world),
            16,
            0,
            PRICES,
        ).error

    assert abs(error("2021-08-31", 6, **FITTED)) < 0.25
    assert error("2021-08-10", 21) > 1.0


def recentering_episode(backend: str) -> list[float]:
    """24 hourly steps with a ±120-tick re-centring LP: after every step its range holds the price, and it
    moved at least twice; returns the agent's rewards."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the ids)

    env = gym.make(
        "defigym/UniswapV3LP-v0",
        backend=backend,
        horizon=24,
        fee_pips=3000,
        world={"recentering_lps": ((120, 0.3),), "flow": "toy"},
        driver_kwargs={"dt": 3600.0, "sigma": 1.5},
    )
    env.reset(seed=1)
    market = env.unwrapped.core.market
    rewards, moved = [], 0
    for i in range(24):
        market.select_lp(1)
        before = market.agent_range()[0].copy()
        market.select_lp(0)
        rewards.append(env.step(2 if i == 0 else 0)[1])
        market.select_lp(1)
        lower, upper, liquidity = market.agent_range()
        tick = market.tick()
        market.select_lp(0)
        assert liquidity[0] > 0 and lower[0] <= tick[0] < upper[0]  # always around the price after its step
        moved += int(lower[0] != before[0])
    assert moved >= 2  # a 150%-volatility path leaves a ±120-tick range within a day
    env.close()
    return rewards


def test_a_recentering_lp_follows_the_price_the_same_on_the_simulator_and_the_contracts():
    """A re-centring LP whose range the price left opens a new one around it; numpy and the real
    contracts give the same LP rewards."""
    assert np.allclose(recentering_episode("numpy"), recentering_episode("evm"), atol=1e-2)


def test_recentering_lps_are_refused_where_the_lps_are_real():
    with pytest.raises(ValueError, match="shares must add up to less than 1"):
        V3WorldParams(recentering_lps=((100, 0.6), (200, 0.5)))
    with pytest.raises(ValueError, match="half-width in ticks >= 1"):
        V3WorldParams(recentering_lps=((0, 0.2),))
