"""Reader of a subgraph's daily pool data (``poolDayData``: ``date, pool, tvlUSD, volumeUSD, ...``), the
figures a simulated pool's turnover is checked against."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.data.events import EventDataError

POOL_DAY_COLUMNS = ("date", "pool", "tvlUSD", "volumeUSD")


@dataclass(frozen=True)
class PoolDays:
    """One pool's days: ISO dates, TVL and volume in USD."""

    pool: str
    dates: tuple[str, ...]
    tvl_usd: np.ndarray
    volume_usd: np.ndarray

    @property
    def turnover(self) -> np.ndarray:
        """Each day's volume over its TVL."""
        return self.volume_usd / self.tvl_usd


def read_pool_days(path: str | Path, pool: str, start: str, end: str) -> PoolDays:
    """The days ``start``..``end`` (ISO dates, inclusive) of ``pool`` (its address) in a poolDayData CSV."""
    path = Path(path)
    if not path.is_file():
        raise EventDataError(f"{path}: no such file; pass a CSV of daily pool data (date, pool, tvlUSD, volumeUSD)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in POOL_DAY_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EventDataError(
                f"{path}: daily pool data needs the columns {list(POOL_DAY_COLUMNS)}; "
                f"{missing} are missing (its columns: {reader.fieldnames})"
            )
        rows = [r for r in reader if r["pool"].lower() == pool.lower() and start <= r["date"][:10] <= end]
    if not rows:
        raise EventDataError(
            f"{path} has no day of pool {pool} between {start} and {end}: check the address "
            f"(column 'pool') and the dates"
        )
    rows.sort(key=lambda r: r["date"])
    tvl = np.array([float(r["tvlUSD"]) for r in rows])
    if np.any(tvl <= 0):
        raise EventDataError(f"{path}: pool {pool} has days with no TVL in {start}..{end}; pick days it was live")
    return PoolDays(pool, tuple(r["date"][:10] for r in rows), tvl, np.array([float(r["volumeUSD"]) for r in rows]))
