"""Regime-switching volatility: a Markov chain over volatility regimes (calm, turbulent, ...),
each world switching on its own; within a regime the price follows GBM."""

from __future__ import annotations

import numpy as np

from envs.drivers.gbm import GBMDriver


class RegimeSwitchingDriver(GBMDriver):
    def __init__(
        self,
        s0: float = 2000.0,
        mu: float = 0.0,
        sigmas: tuple[float, ...] = (0.45, 1.2),
        mean_durations: tuple[float, ...] = (30 * 86400.0, 7 * 86400.0),
        dt: float = 3600.0,
    ):
        """``sigmas``: annualized volatility per regime; ``mean_durations``: expected seconds in each
        before leaving it (to the next regime, cyclically)."""
        super().__init__(s0, mu, sigmas[0], dt)
        if len(sigmas) != len(mean_durations) or len(sigmas) < 2:
            raise ValueError("give one mean duration per regime, and at least two regimes")
        if min(mean_durations) < dt:
            raise ValueError(f"a regime must last at least one step (dt={dt} s); got {min(mean_durations)}")
        self.sigmas = np.asarray(sigmas, dtype=float)
        self.leave_probability = dt / np.asarray(mean_durations, dtype=float)

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        self.regime = np.zeros(n, dtype=np.int64)
        return super().reset(rng, n)

    def step(self) -> np.ndarray:
        leave = self.generator.random(self.regime.shape) < self.leave_probability[self.regime]
        self.regime = np.where(leave, (self.regime + 1) % len(self.sigmas), self.regime)
        sigma = self.sigmas[self.regime]
        self.price = self.price * np.exp(self.log_return(self.generator.standard_normal(self.price.shape), sigma))
        return self.price.copy()
