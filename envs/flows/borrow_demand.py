"""Calibrated borrow demand on Aave V3 reserves: the rate curve each reserve runs (the parameters of
DefaultReserveInterestRateStrategy) and the rate its borrowers are willing to pay, a mean-reverting
(Ornstein-Uhlenbeck) process whose utilization the curve gives; both fitted to real daily reserve data
by ``envs.flows.lending_fit``. Modelling demand in rate terms keeps utilization mostly below the kink,
as the real reserves do: past it, a small rise in utilization costs borrowers a steep rise in rate."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

from envs.assets import ASSETS_DIR, AaveReserveParams
from envs.protocols.aave_v3.interest_rate_strategy import calculate_interest_rates
from envs.units import BPS, DAY, RAY

NO_CALIBRATION = "none"
#: the calibration the Aave envs run by default: envs/assets/lending_<name>.json
DEFAULT_CALIBRATION = "aave_v3_ethereum"


@dataclass(frozen=True)
class RateCurve:
    """DefaultReserveInterestRateStrategy's variable-rate curve, yearly fractions: ``base + slope1 * U / optimal``
    up to the optimal usage ratio, ``base + slope1 + slope2 * (U - optimal) / (1 - optimal)`` above it."""

    base: float
    slope1: float
    slope2: float
    optimal: float

    def rates(self, utilization: np.ndarray, reserve_factor: float) -> tuple[np.ndarray, np.ndarray]:
        """(supply rate, variable borrow rate) at ``utilization``, with the protocol's own formula."""
        u = np.asarray(utilization, dtype=float)
        return calculate_interest_rates(
            u, 1.0 - u, reserve_factor * BPS, self.base, self.slope1, self.slope2, self.optimal
        )

    def utilization_at(self, borrow_rate: np.ndarray) -> np.ndarray:
        """The utilization at which the curve charges ``borrow_rate`` (the curve's inverse, within [0, 1])."""
        r = np.asarray(borrow_rate, dtype=float) - self.base
        below = r * self.optimal / max(self.slope1, 1e-12)
        above = self.optimal + (r - self.slope1) * (1.0 - self.optimal) / max(self.slope2, 1e-12)
        return np.clip(np.where(r <= self.slope1, below, above), 0.0, 1.0)


@dataclass(frozen=True)
class RateProcess:
    """The borrow rate borrowers hold a reserve at, daily, as an Ornstein-Uhlenbeck process around ``level``,
    kept within [``low``, ``high``]; yearly fractions."""

    level: float
    reversion_per_day: float  # kappa: the gap to the level shrinks by exp(-kappa) a day
    sd_per_day: float  # the daily shock's standard deviation
    low: float
    high: float

    @property
    def stationary_sd(self) -> float:
        return self.sd_per_day / np.sqrt(max(1.0 - np.exp(-2.0 * self.reversion_per_day), 1e-12))

    def start(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws from the stationary distribution, within the band."""
        return np.clip(self.level + self.stationary_sd * rng.standard_normal(n), self.low, self.high)

    def advance(self, rate: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
        """The exact OU transition over ``seconds``, within the band."""
        decay = np.exp(-self.reversion_per_day * seconds / DAY)
        shock = self.stationary_sd * np.sqrt(1.0 - decay**2) * rng.standard_normal(len(rate))
        return np.clip(self.level + (rate - self.level) * decay + shock, self.low, self.high)


@dataclass(frozen=True)
class ReserveCalibration:
    """One reserve's fitted curve, reserve factor and borrow demand."""

    symbol: str
    reserve_factor: float  # fraction of interest kept by the protocol
    curve: RateCurve
    demand: RateProcess


@dataclass(frozen=True)
class LendingCalibration:
    """Per reserve (USDC, WETH): the fitted rate curve and utilization; ``fit`` holds the held-out report."""

    source: str
    reserves: dict[str, ReserveCalibration]
    fit: dict = field(default_factory=dict)

    def reserve_params(self, snapshot: dict[str, AaveReserveParams]) -> dict[str, AaveReserveParams]:
        """``snapshot`` with the calibrated reserves' rate curves and reserve factors, in the protocol's units."""
        out = dict(snapshot)
        for symbol, r in self.reserves.items():
            if symbol not in out:
                raise ValueError(
                    f"the calibration has reserve {symbol!r}, which the market does not list ({sorted(out)})"
                )
            c = r.curve
            out[symbol] = replace(
                out[symbol],
                reserve_factor=round(r.reserve_factor * BPS),
                base_variable_borrow_rate=_ray(c.base),
                variable_rate_slope1=_ray(c.slope1),
                variable_rate_slope2=_ray(c.slope2),
                optimal_usage_ratio=_ray(c.optimal),
            )
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @staticmethod
    def load(path: str | Path) -> "LendingCalibration":
        try:
            raw = json.loads(Path(path).read_text())
            reserves = {
                s: ReserveCalibration(
                    s, float(r["reserve_factor"]), RateCurve(**r["curve"]), RateProcess(**r["demand"])
                )
                for s, r in raw["reserves"].items()
            }
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"{path} is not a lending calibration (write one with `python -m envs.data fit-lending`): {err!r}"
            ) from None
        return LendingCalibration(raw.get("source", ""), reserves, raw.get("fit", {}))


def _ray(x: float) -> int:
    return round(x * 1e9) * (RAY // 10**9)  # nine decimals of a yearly fraction, as governance sets them


def calibration_path(name: str) -> Path:
    """A shipped calibration's file (``envs/assets/lending_<name>.json``), or ``name`` as a path."""
    shipped = ASSETS_DIR / f"lending_{name}.json"
    if shipped.exists():
        return shipped
    path = Path(name)
    if path.suffix == ".json" and path.exists():
        return path
    known = sorted(p.stem.removeprefix("lending_") for p in ASSETS_DIR.glob("lending_*.json"))
    raise ValueError(
        f"lending.calibration={name!r} is neither a shipped calibration ({known}) nor a JSON file; "
        f"use one of those, a path written by `python -m envs.data fit-lending`, or "
        f"{NO_CALIBRATION!r} for the uncalibrated market"
    )


@cache
def load_calibration(name: str) -> LendingCalibration | None:
    """The calibration ``lending.calibration`` names; None for ``"none"``."""
    if name == NO_CALIBRATION:
        return None
    return LendingCalibration.load(calibration_path(name))
