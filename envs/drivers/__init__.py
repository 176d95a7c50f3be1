"""Exogenous reference prices (the CEX price arbitrageurs trade against and the oracle reports),
N worlds at a time. A driver's randomness comes only from the generator passed to ``reset``."""

from __future__ import annotations

from envs.drivers.base import PriceDriver
from envs.drivers.gbm import GBMDriver
from envs.drivers.historical import HistoricalDriver, PricePath, load_price_csv
from envs.drivers.jump_diffusion import JumpDiffusionDriver
from envs.drivers.regime_switching import RegimeSwitchingDriver
from envs.drivers.scenario import ScenarioDriver, crash

DRIVERS = {
    "gbm": GBMDriver,
    "jump_diffusion": JumpDiffusionDriver,
    "regime_switching": RegimeSwitchingDriver,
    "historical": HistoricalDriver,
    "scenario": ScenarioDriver,
}


def make_driver(name: str, **kwargs) -> PriceDriver:
    if name not in DRIVERS:
        raise ValueError(f"unknown price driver {name!r}; choose one of {sorted(DRIVERS)}")
    return DRIVERS[name](**kwargs)


def episode_driver(driver: str | PriceDriver, driver_kwargs: dict | None, steps: int) -> PriceDriver:
    """A driver (given, or made by name) good for episodes of ``steps`` price moves: a historical
    replay must leave that many steps of data after each start."""
    if isinstance(driver, PriceDriver):
        return driver
    return make_driver(driver, **({"horizon": steps} if driver == "historical" else {}), **(driver_kwargs or {}))


__all__ = [
    "PriceDriver",
    "GBMDriver",
    "JumpDiffusionDriver",
    "RegimeSwitchingDriver",
    "HistoricalDriver",
    "ScenarioDriver",
    "crash",
    "PricePath",
    "load_price_csv",
    "make_driver",
    "episode_driver",
    "DRIVERS",
]
