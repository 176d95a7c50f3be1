"""The driver interface: ``reset`` starts N price paths, ``step`` advances them by ``dt`` seconds."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from envs.units import SECONDS_PER_YEAR


class PriceDriver(ABC):
    """Reference prices for N worlds, in quote per base (e.g. USD per ETH), as float64 arrays."""

    dt: float  # seconds per step

    def __init__(self, dt: float):
        if not dt > 0:
            raise ValueError(f"dt must be a positive number of seconds, got {dt}")
        self.dt = float(dt)
        self.rng: np.random.Generator | None = None

    @property
    def generator(self) -> np.random.Generator:
        """The generator ``reset`` was given: the paths draw from it."""
        if self.rng is None:
            raise RuntimeError(f"{type(self).__name__} was stepped before reset")
        return self.rng

    @property
    def dt_years(self) -> float:
        return self.dt / SECONDS_PER_YEAR

    @abstractmethod
    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Start N paths; returns their first prices (N,)."""

    @abstractmethod
    def step(self) -> np.ndarray:
        """Advance every path by dt; returns the new prices (N,)."""


def positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)
