"""Turnover, a pool's daily volume over its TVL, of simulated worlds beside a real pool's over the same
days: the check that the calibrated flow and the background liquidity together trade as much of the
pool as real traders did (the flow is fitted per unit of active liquidity; how much of the TVL is
active is the liquidity profile's doing)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from envs.arrays import array_backend
from envs.data.pool_days import read_pool_days
from envs.drivers.historical import DEFAULT_PRICE_CSV, HistoricalDriver
from envs.worlds.sim import UniswapV3World, V3WorldParams

HOURS = 24


@dataclass(frozen=True)
class Turnover:
    """Mean daily turnover of the simulated worlds and of the real pool over the same days."""

    days: int
    model: float
    model_p5: float
    model_p95: float
    real: float
    real_min: float
    real_max: float

    @property
    def error(self) -> float:
        """The model's mean over the real one, less 1."""
        return self.model / self.real - 1


def simulated_turnover(
    start: str,
    days: int,
    params: V3WorldParams,
    worlds: int = 16,
    seed: int = 0,
    price_csv: str | Path = DEFAULT_PRICE_CSV,
) -> np.ndarray:
    """(worlds, days) daily turnover of hourly worlds starting at ``start`` (an ISO date) on the real price
    path: the scripted flows' volume (arbitrage and uninformed swaps) over the pool's starting value
    (``params.pool_value_usd``); the worlds differ by their flow's draws."""
    driver = HistoricalDriver(price_csv, dt=3600.0, start=start, horizon=days * HOURS)
    world = UniswapV3World(worlds, driver, replace(params, lps=0), array_backend("numpy"))  # only its own flows trade
    world.count_flow_volume = True
    world.reset(np.random.default_rng(seed))
    daily = np.zeros((worlds, days))
    for day in range(days):
        before = _volume(world).copy()
        for _ in range(HOURS):
            world.step()
        daily[:, day] = _volume(world) - before
    return daily / params.pool_value_usd


def _volume(world: UniswapV3World) -> np.ndarray:
    """The flows' volume the world has counted since reset (``count_flow_volume`` must be set before it)."""
    if world.flow_volume_usd is None:
        raise RuntimeError("set count_flow_volume = True before the world's reset to count its volume")
    return world.flow_volume_usd


def check_turnover(
    pool_days_csv: str | Path,
    pool: str,
    start: str,
    days: int,
    params: V3WorldParams,
    worlds: int = 16,
    seed: int = 0,
    price_csv: str | Path = DEFAULT_PRICE_CSV,
) -> Turnover:
    """The simulated worlds' turnover beside ``pool``'s (from its daily data) over ``days`` days from ``start``."""
    end = (date.fromisoformat(start) + timedelta(days=days - 1)).isoformat()
    real = read_pool_days(pool_days_csv, pool, start, end).turnover
    if len(real) != days:
        raise ValueError(f"{pool_days_csv} holds {len(real)} of the {days} days {start}..{end} of pool {pool}")
    model = simulated_turnover(start, days, params, worlds, seed, price_csv)
    return Turnover(
        days,
        float(model.mean()),
        float(np.percentile(model, 5)),
        float(np.percentile(model, 95)),
        float(real.mean()),
        float(real.min()),
        float(real.max()),
    )
