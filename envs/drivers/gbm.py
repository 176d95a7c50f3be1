"""Geometric Brownian motion, stepped exactly: S' = S exp((mu - sigma^2/2) dt + sigma sqrt(dt) Z)."""

from __future__ import annotations

import numpy as np

from envs.drivers.base import PriceDriver, positive


class GBMDriver(PriceDriver):
    def __init__(self, s0: float = 2000.0, mu: float = 0.0, sigma: float = 0.8, dt: float = 3600.0):
        """``mu`` and ``sigma`` are annualized (0.8 = 80% a year, ETH-like); ``dt`` in seconds."""
        super().__init__(dt)
        self.s0, self.mu, self.sigma = positive("s0", s0), float(mu), float(sigma)
        if sigma < 0:
            raise ValueError(f"sigma must be non-negative, got {sigma}")

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        self.rng, self.price = rng, np.full(n, self.s0)
        return self.price.copy()

    def log_return(self, z: np.ndarray, sigma) -> np.ndarray:
        return (self.mu - 0.5 * sigma**2) * self.dt_years + sigma * np.sqrt(self.dt_years) * z

    def step(self) -> np.ndarray:
        self.price = self.price * np.exp(self.log_return(self.generator.standard_normal(self.price.shape), self.sigma))
        return self.price.copy()
