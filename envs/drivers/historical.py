"""Historical replay from a CSV of (timestamp, price) on a regular grid of ``dt`` seconds, every gap it
had to fill and every row without a price reported, never hidden.

Between two observations the path either holds the last one (``fill="hold"``) or follows a Brownian
bridge in log price (``fill="bridge"``): a path through every observation whose variance in between
is the data's own realized variance per second, so an hourly file drives a 12-second block clock
with the sub-hour moves arbitrage (and an LP's LVR) is paid on, rather than one jump an hour."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from envs.assets import ASSETS_DIR
from envs.drivers.base import PriceDriver

log = logging.getLogger(__name__)
DEFAULT_PRICE_CSV = ASSETS_DIR / "eth_usd_hourly_2021-2023.csv"


@dataclass(frozen=True)
class Gap:
    start: float  # unix seconds of the last observation before the gap
    end: float  # unix seconds of the first observation after it
    filled_steps: int  # grid points that carry the earlier price forward

    def __str__(self) -> str:
        t = datetime.fromtimestamp(self.start, timezone.utc).strftime("%Y-%m-%d %H:%M")
        return f"{(self.end - self.start) / 3600:.1f} h without data after {t} UTC ({self.filled_steps} steps filled)"


@dataclass(frozen=True)
class PricePath:
    timestamps: np.ndarray  # (T,) unix seconds, regular
    prices: np.ndarray  # (T,)
    source: str
    gaps: list[Gap] = field(default_factory=list)
    observed_times: np.ndarray | None = None  # the file's own rows, before resampling
    observed_prices: np.ndarray | None = None
    skipped_lines: tuple[int, ...] = ()  # rows with no price, left out

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, prices) of the file's own rows, before resampling."""
        if self.observed_times is None or self.observed_prices is None:
            raise ValueError(f"{self.source}: the path keeps no observed rows, which the bridge fill needs")
        return self.observed_times, self.observed_prices

    @property
    def variance_per_second(self) -> float:
        """Realized variance of log price per second between the observations."""
        t, p = self.observations()
        x = np.log(p)
        return float(np.mean(np.diff(x) ** 2 / np.diff(t)))


def load_price_csv(
    path: str | Path = DEFAULT_PRICE_CSV,
    dt: float = 3600.0,
    timestamp_column: str = "timestamp",
    price_column: str = "USD_price",
    timestamp_unit: str = "auto",
    missing: str = "skip",
) -> PricePath:
    """Read and resample a price CSV. ``timestamp_unit``: "s", "ms", "iso" or "auto" (ms above 1e11).
    ``missing``: a row with an empty price is left out and reported ("skip") or refused ("error").
    A file is read (and its gaps logged) once per process; later calls reuse it."""
    if missing not in ("skip", "error"):
        raise ValueError(f"missing={missing!r} must be 'skip' (leave rows without a price out, and say so) or 'error'")
    path = Path(path).resolve()
    return _load_price_csv(
        path,
        path.stat().st_mtime if path.is_file() else 0.0,
        float(dt),
        timestamp_column,
        price_column,
        timestamp_unit,
        missing,
    )


@lru_cache(maxsize=16)
def _load_price_csv(
    path: Path,
    _mtime: float,
    dt: float,
    timestamp_column: str,
    price_column: str,
    timestamp_unit: str,
    missing: str = "skip",
) -> PricePath:
    if not path.is_file():
        raise FileNotFoundError(f"price file {path} does not exist")
    times: list[float] = []
    prices: list[float] = []
    skipped: list[int] = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        for col in (timestamp_column, price_column):
            if col not in columns:
                raise ValueError(
                    f"{path}: no column {col!r}; the columns are {columns}. "
                    f"Name the right ones with timestamp_column= and price_column="
                )
        for line, row in enumerate(reader, start=2):
            if not (row[price_column] or "").strip():
                if missing == "error":
                    raise ValueError(f"{path}:{line}: no price; leave such rows out with missing=skip")
                skipped.append(line)
                continue
            try:
                stamp, price = _timestamp(row[timestamp_column], timestamp_unit), float(row[price_column])
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}:{line}: cannot read timestamp {row[timestamp_column]!r} / "
                    f"price {row[price_column]!r} as numbers"
                ) from None
            if not (np.isfinite(price) and price > 0):
                raise ValueError(f"{path}:{line}: price must be a positive number, got {row[price_column]!r}")
            if times and stamp <= times[-1]:
                raise ValueError(f"{path}:{line}: timestamps must increase ({stamp} after {times[-1]}); sort the file")
            times.append(stamp)
            prices.append(price)
    if len(times) < 2:
        raise ValueError(f"{path}: needs at least two rows of data, found {len(times)}")
    t, p = np.asarray(times), np.asarray(prices)
    grid = np.arange(t[0], t[-1] + 1e-9, dt)
    resampled = p[np.searchsorted(t, grid, side="right") - 1]
    wide = np.flatnonzero(np.diff(t) > 1.5 * max(dt, float(np.median(np.diff(t)))))  # holes in the data itself
    gaps = [Gap(t[i], t[i + 1], int(np.sum((grid > t[i] + dt / 2) & (grid < t[i + 1] - dt / 2)))) for i in wide]
    for gap in gaps:
        log.debug("%s: %s", path.name, gap)
    if gaps:
        longest = max(gaps, key=lambda g: g.end - g.start)
        log.warning(
            "%s: filled %d gaps (%d steps) by carrying the last price forward; longest: %s. "
            "PricePath.gaps lists them all.",
            path.name,
            len(gaps),
            sum(g.filled_steps for g in gaps),
            longest,
        )
    if skipped:
        log.warning(
            "%s: left out %d rows with no price (lines %s%s)",
            path.name,
            len(skipped),
            ", ".join(map(str, skipped[:5])),
            ", ..." if len(skipped) > 5 else "",
        )
    for array in (grid, resampled, t, p):
        array.flags.writeable = False  # shared between drivers
    return PricePath(grid, resampled, str(path), gaps, t, p, tuple(skipped))


def _timestamp(text: str, unit: str) -> float:
    if unit == "iso" or (unit == "auto" and not text.replace(".", "", 1).isdigit()):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    value = float(text)
    return value / 1000 if unit == "ms" or (unit == "auto" and value > 1e11) else value


class HistoricalDriver(PriceDriver):
    """Replays a real price path. Each world starts at ``start`` (a step index, or an ISO date) or, if None, at a
    random step of ``window`` (fractions of the path, e.g. (0, 0.7) to train, (0.85, 1) to test)
    that leaves ``horizon`` steps of data inside the window."""

    def __init__(
        self,
        path: str | Path = DEFAULT_PRICE_CSV,
        dt: float = 3600.0,
        start: int | str | None = None,
        horizon: int = 720,
        window: tuple[float, float] = (0.0, 1.0),
        timestamp_column: str = "timestamp",
        price_column: str = "USD_price",
        timestamp_unit: str = "auto",
        fill: str = "hold",
        missing: str = "skip",
    ):
        super().__init__(dt)
        if fill not in ("hold", "bridge"):
            raise ValueError(
                f"fill={fill!r} must be 'hold' (the last observation until the next) or 'bridge' "
                f"(a Brownian bridge through the observations, for steps shorter than the data's)"
            )
        self.fill = fill
        self.path = load_price_csv(path, dt, timestamp_column, price_column, timestamp_unit, missing)
        if isinstance(start, str):  # a date: the first step at or after it
            when = _timestamp(start, "iso")
            start = int(np.searchsorted(self.path.timestamps, when))
            if start >= len(self.path.timestamps):
                raise ValueError(f"start={start!r} is after the last price in {path}")
        self.start, self.horizon = start, int(horizon)
        last = len(self.path.prices) - 1
        lo, hi = window
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"window={tuple(window)} must be fractions 0 <= start < end <= 1 of the path")
        self.first, self.last_start = int(lo * last), int(hi * last) - self.horizon
        if self.last_start < self.first:
            raise ValueError(
                f"horizon={horizon} steps does not fit in window {tuple(window)} "
                f"({int(hi * last) - int(lo * last)} steps of data in {path})"
            )
        if start is not None and not 0 <= start <= last - self.horizon:
            raise ValueError(f"start={start} must be in [0, {last - self.horizon}] to leave horizon={horizon} steps")

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        self.rng = rng
        self.index = (
            np.full(n, self.start) if self.start is not None else rng.integers(self.first, self.last_start + 1, n)
        )
        self.steps = 0
        if self.fill == "hold":
            return self.path.prices[self.index].copy()
        return self._bridge_start()

    def step(self) -> np.ndarray:
        if self.steps >= self.horizon:
            raise RuntimeError(f"the price path ran past horizon={self.horizon} steps; reset, or raise the horizon")
        self.steps += 1
        self.index = self.index + 1
        if self.fill == "hold":
            return self.path.prices[self.index].copy()
        return self._bridge_to(self.path.timestamps[self.index])

    # --- the Brownian bridge between observations -------------------------------------------------------
    def _bridge_start(self) -> np.ndarray:
        """Each world's log price at its first grid time: on an observation, that observation; between
        two, a draw from the bridge's marginal there (mean interpolated, variance s(T-t)/T)."""
        t_obs, p_obs = self.path.observations()
        x_obs = np.log(p_obs)
        self._var = self.path.variance_per_second
        now = self.path.timestamps[self.index]
        k = np.clip(np.searchsorted(t_obs, now, side="right"), 1, len(t_obs) - 1)  # t_obs[k-1] <= now < t_obs[k]
        t0, t1 = t_obs[k - 1], t_obs[k]
        share = (now - t0) / (t1 - t0)
        mean = x_obs[k - 1] + share * (x_obs[k] - x_obs[k - 1])
        self._x = mean + np.sqrt(self._var * (now - t0) * (t1 - now) / (t1 - t0)) * self.generator.standard_normal(
            len(now)
        )
        self._t, self._k = now.astype(float), k
        return np.exp(self._x)

    def _bridge_to(self, target: np.ndarray) -> np.ndarray:
        """Advance every world's bridge to ``target``: x(t+h) given x(t) and the next observation x(T) is
        normal with mean x(t) + h/(T-t) (x(T) - x(t)) and variance var h (T-t-h)/(T-t); an observation
        passed on the way is taken exactly, and the bridge goes on toward the one after it."""
        t_obs, p_obs = self.path.observations()
        x_obs = np.log(p_obs)
        while True:
            k = np.minimum(self._k, len(t_obs) - 1)
            passing = target >= t_obs[k]
            self._x = np.where(passing, x_obs[k], self._x)
            self._t = np.where(passing, t_obs[k], self._t)
            self._k = np.where(passing, self._k + 1, self._k)
            if not np.any(passing & (self._k < len(t_obs))):
                break
        k = np.minimum(self._k, len(t_obs) - 1)
        left, h = t_obs[k] - self._t, target - self._t
        moving = (h > 0) & (left > 0)
        safe = np.where(moving, left, 1.0)
        mean = self._x + h / safe * (x_obs[k] - self._x)
        std = np.sqrt(np.maximum(self._var * h * (left - h) / safe, 0.0))
        draw = self.generator.standard_normal(len(target))
        self._x = np.where(moving, mean + std * draw, self._x)
        self._t = np.where(moving, target, self._t)
        return np.exp(self._x)

    def timestamps(self) -> np.ndarray:
        return self.path.timestamps[self.index]
