"""Fit the calibrated borrow demand (``envs.flows.borrow_demand``) to daily Aave V3 reserve data (rates and
reserve factors, e.g. ../shared/data/aave/aave_v3_reserves_daily_2025-2026.csv), holding the last days out.

Each day's utilization follows from its two rates: the protocol pays suppliers the borrow rate times the
utilization, less the reserve factor (liquidity rate = variable rate x U x (1 - RF), with no stable debt or
unbacked supply), so U = supply rate / (borrow rate x (1 - RF)). The rate curve is aave-v3-core's
DefaultReserveInterestRateStrategy.calculateInterestRates (``envs.protocols.aave_v3.interest_rate_strategy``),
fitted by least squares on the latest stretch of days one curve explains (governance re-sets the curve
every few months); the demand, the rate that curve would have charged each day of the fit window, is
fitted as a mean-reverting process."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from envs.assets import aave_reserve_params
from envs.flows.borrow_demand import LendingCalibration, RateCurve, RateProcess, ReserveCalibration
from envs.units import RAY_FLOAT

COLUMNS = (
    "generated_at",
    "network",
    "symbol",
    "current_liquidity_rate",
    "current_variable_borrow_rate",
    "reserve_factor",
)
OPTIMAL_GRID = np.round(np.arange(0.50, 0.99 + 1e-9, 0.0025), 4)
MIN_SIDE = 3  # days needed on a side of the kink to fit that side's slope


class LendingDataError(ValueError):
    """A reserve file, a column or a value the lending fit cannot use; says what to do."""


@dataclass(frozen=True)
class DailyReserve:
    """One reserve's days, oldest first: ISO dates, rates and reserve factors (fractions), utilization."""

    dates: np.ndarray
    supply_rate: np.ndarray
    borrow_rate: np.ndarray
    reserve_factor: np.ndarray

    @property
    def utilization(self) -> np.ndarray:
        paid = self.borrow_rate * (1.0 - self.reserve_factor)
        return np.clip(np.divide(self.supply_rate, paid, out=np.zeros_like(paid), where=paid > 0), 0.0, 1.0)

    def take(self, sl: slice) -> "DailyReserve":
        return DailyReserve(self.dates[sl], self.supply_rate[sl], self.borrow_rate[sl], self.reserve_factor[sl])


def read_reserves(path: str | Path, network: str, symbols: tuple[str, ...]) -> dict[str, DailyReserve]:
    """The daily rows of ``symbols`` on ``network``, one per UTC day (the day's last row)."""
    path = Path(path)
    if not path.is_file():
        raise LendingDataError(
            f"{path}: no such file; give the daily reserves CSV, e.g. "
            f"../shared/data/aave/aave_v3_reserves_daily_2025-2026.csv"
        )
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LendingDataError(
                f"{path} lacks the column(s) {missing}: the fit needs {list(COLUMNS)} (rates and "
                f"reserve factor as yearly fractions, generated_at an ISO time); it has "
                f"{reader.fieldnames}"
            )
        rows = list(reader)
    out = {}
    for symbol in symbols:
        days: dict[str, tuple[float, ...]] = {}  # a day's liquidity rate, borrow rate and reserve factor
        for line, row in enumerate(rows, start=2):
            if row["network"] != network or row["symbol"] != symbol:
                continue
            try:
                day = datetime.fromisoformat(row["generated_at"]).date().isoformat()
                values = tuple(float(row[c]) for c in COLUMNS[3:])
            except ValueError as err:
                raise LendingDataError(
                    f"{path} line {line}: {err} (generated_at must be an ISO time, the rates and "
                    f"reserve_factor numbers)"
                ) from None
            if not all(np.isfinite(values)) or min(values) < 0 or values[2] >= 1:
                raise LendingDataError(
                    f"{path} line {line}: rates must be non-negative yearly fractions and the "
                    f"reserve factor a fraction below 1, got {values}"
                )
            days[day] = values
        if len(days) < 20:
            have = sorted({(r["network"], r["symbol"]) for r in rows})
            raise LendingDataError(
                f"{path} has {len(days)} days of {symbol} on {network} (the fit needs at least 20); "
                f"it holds {have}: pick --network/--symbols from those"
            )
        dates = np.array(sorted(days))
        v = np.array([days[d] for d in dates])
        out[symbol] = DailyReserve(dates, v[:, 0], v[:, 1], v[:, 2])
    return out


def _solve(u: np.ndarray, r: np.ndarray, optimal: float, prior: RateCurve) -> tuple[RateCurve, float]:
    """Least squares (non-negative) for base, slope1, slope2 at a given kink; a side of the kink with fewer
    than MIN_SIDE days keeps the prior's slope2 (or base)."""
    below, above = np.minimum(u / optimal, 1.0), np.maximum(u - optimal, 0.0) / (1.0 - optimal)
    n_above, n_below = int(np.sum(u > optimal)), int(np.sum(u < optimal))
    columns, fixed = [np.ones_like(u), below, above], np.zeros_like(u)
    free = [n_below >= MIN_SIDE, True, n_above >= MIN_SIDE]
    if not free[0]:
        fixed = fixed + prior.base
    if not free[2]:
        fixed = fixed + prior.slope2 * above
    x, _ = nnls(np.stack([c for c, f in zip(columns, free) if f], axis=1), r - fixed)
    values = iter(x)
    base, slope1, slope2 = (float(next(values)) if f else p for f, p in zip(free, (prior.base, 0.0, prior.slope2)))
    curve = RateCurve(base, slope1, slope2, float(optimal))
    residual = curve.rates(u, 0.0)[1] - r
    return curve, float(np.max(np.abs(residual)))


def fit_curve(u: np.ndarray, r: np.ndarray, prior: RateCurve, tie: float) -> tuple[RateCurve, float]:
    """The kinked curve through (utilization, borrow rate) days, and its largest error. The kink is searched
    on a grid then refined; among kinks that fit within ``tie`` of the best (the days do not pin it down),
    the one nearest the prior's is kept."""

    def best(grid):
        fits = [_solve(u, r, o, prior) for o in grid]
        errors = np.array([e for _, e in fits])
        tied = np.flatnonzero(errors <= errors.min() + tie)
        return fits[tied[np.argmin(np.abs(np.asarray(grid)[tied] - prior.optimal))]]

    coarse, _ = best(np.append(OPTIMAL_GRID, prior.optimal))
    fine = np.clip(coarse.optimal + np.arange(-0.0025, 0.0025 + 1e-9, 0.0001), 0.01, 0.995)
    return best(np.append(fine, coarse.optimal))


def current_regime(
    u: np.ndarray, r: np.ndarray, prior: RateCurve, tol: float, min_days: int
) -> tuple[int, RateCurve, float]:
    """The longest stretch ending at the last day that one curve explains within ``tol`` (on the borrow
    rate), found by bisection (a longer stretch never fits better): (its first day, the curve, its largest
    error). Kinks within a quarter of ``tol`` of the best fit count as ties."""
    if len(u) < min_days:
        raise LendingDataError(f"{len(u)} days are too few to fit a rate curve (at least {min_days})")

    def fit(start):
        return fit_curve(u[start:], r[start:], prior, tol / 4)

    good, bad = len(u) - min_days, -1  # fits / does not fit (-1: not tried)
    if fit(0)[1] <= tol:
        good = 0
    else:
        bad = 0
        while good - bad > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if fit(mid)[1] <= tol else (good, mid)
    return (good, *fit(good))


def fit_demand(u: np.ndarray, level_days: int) -> RateProcess:
    """OU process of a daily series (the borrow rate the current curve charges at each day's utilization):
    the level where the last ``level_days`` sat (median), the reversion of an AR(1) fit, the daily shock's
    robust size (1.4826 x MAD of the AR(1) residuals: days pinned at 100% by incidents do not set it),
    within the window's 1-99% range."""
    x, y = u[:-1], u[1:]
    phi, intercept = np.polyfit(x, y, 1)
    phi = float(np.clip(phi, 1e-3, 0.999))
    residual = y - (intercept + phi * x)
    sd = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    low, high = (float(q) for q in np.quantile(u, [0.01, 0.99]))
    level = float(np.clip(np.median(u[-level_days:]), low, high))
    return RateProcess(level, -float(np.log(phi)), sd, low, high)


def _summary(x: np.ndarray) -> dict:
    return {"mean": float(np.mean(x)), "min": float(np.min(x)), "max": float(np.max(x))}


def fit_and_validate(
    path: str | Path,
    network: str = "ethereum",
    symbols: tuple[str, ...] = ("USDC", "WETH"),
    holdout: float = 0.2,
    tol: float = 1e-4,
    min_days: int = 14,
    level_days: int = 30,
    seed: int = 0,
) -> LendingCalibration:
    """Fit on all but the last ``holdout`` share of days; the held-out figures go into ``calibration.fit``."""
    if not 0 < holdout < 1:
        raise LendingDataError(f"holdout must be a share of the days in (0, 1), got {holdout}")
    snapshot = aave_reserve_params()
    unknown = [s for s in symbols if s not in snapshot]
    if unknown:
        raise LendingDataError(f"the simulated market has no reserve {unknown}; choose --symbols from {list(snapshot)}")
    data = read_reserves(path, network, symbols)
    reserves, report = {}, {}
    for symbol, days in data.items():
        cut = int(round(len(days.dates) * (1 - holdout)))
        train, held = days.take(slice(None, cut)), days.take(slice(cut, None))
        s = snapshot[symbol]
        prior = RateCurve(
            s.base_variable_borrow_rate / RAY_FLOAT,
            s.variable_rate_slope1 / RAY_FLOAT,
            s.variable_rate_slope2 / RAY_FLOAT,
            s.optimal_usage_ratio / RAY_FLOAT,
        )
        u_train = train.utilization
        start, curve, error = current_regime(u_train, train.borrow_rate, prior, tol, min(min_days, cut))
        rf = float(train.reserve_factor[-1])
        demand = fit_demand(curve.rates(u_train, rf)[1], level_days)
        reserves[symbol] = ReserveCalibration(symbol, rf, curve, demand)
        u_held = held.utilization
        supply_hat, borrow_hat = curve.rates(u_held, rf)
        drawn = curve.utilization_at(demand.start(np.random.default_rng(seed), 100_000))
        level = float(curve.utilization_at(np.asarray(demand.level)))
        at_level = curve.rates(np.array([level]), rf)
        report[symbol] = {
            "fit_days": f"{train.dates[0]}..{train.dates[-1]}",
            "curve_from": str(train.dates[start]),
            "curve_max_error": error,
            "held_out_days": f"{held.dates[0]}..{held.dates[-1]}",
            "utilization_real": _summary(u_held),
            "utilization_model": {
                "level": level,
                "q05": float(np.quantile(drawn, 0.05)),
                "q95": float(np.quantile(drawn, 0.95)),
            },
            "borrow_rate_real": _summary(held.borrow_rate),
            "borrow_rate_model_at_level": float(at_level[1][0]),
            "borrow_rate_abs_error": {
                "mean": float(np.mean(np.abs(borrow_hat - held.borrow_rate))),
                "max": float(np.max(np.abs(borrow_hat - held.borrow_rate))),
            },
            "supply_rate_real": _summary(held.supply_rate),
            "supply_rate_model_at_level": float(at_level[0][0]),
            "supply_rate_abs_error": {
                "mean": float(np.mean(np.abs(supply_hat - held.supply_rate))),
                "max": float(np.max(np.abs(supply_hat - held.supply_rate))),
            },
            "held_out_days_within_tol": float(np.mean(np.abs(borrow_hat - held.borrow_rate) <= tol)),
        }
    source = (
        f"{Path(path).name} ({network}): rate curves fitted on each reserve's latest stretch one curve "
        f"explains, utilization on the first {1 - holdout:.0%} of the days; the rest held out"
    )
    return LendingCalibration(source, reserves, {"tolerance": tol, "reserves": report})
