"""The reference price of N worlds (USD per WETH, numpy (N,)): a driver's path, each world's scaled by a constant,
1 as drawn, or a pool's own price over the drawn start where the path is made to start at that pool (an attached
fork's market, a pool read from a chain). Every world holds one, on every backend, and moves it a step at a time."""

from __future__ import annotations

import numpy as np

from envs.drivers.base import PriceDriver


class ReferencePath:
    """``driver``'s path for N worlds, scaled (``start_at``); ``now`` is where it stands."""

    now: np.ndarray

    def __init__(self, driver: PriceDriver):
        self.driver = driver
        self.scale: np.ndarray | float = 1.0

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """A fresh path for ``n`` worlds, as drawn (scale 1); returns where it starts."""
        self.now, self.scale = self.driver.reset(rng, n), 1.0
        return self.now

    def start_at(self, price: np.ndarray | float) -> None:
        """Scale each world's path so it starts at ``price`` (and keeps the driver's returns from there)."""
        self.scale = price / self.now
        self.now = self.now * self.scale

    def step(self) -> None:
        """The driver's next step, scaled."""
        self.now = self.driver.step() * self.scale
