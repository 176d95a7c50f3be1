"""Merton (1976) jump-diffusion: GBM plus Poisson-timed jumps with normal log sizes, drift
compensated so E[S_t] = S_0 e^(mu t) as under GBM."""

from __future__ import annotations

import numpy as np

from envs.drivers.gbm import GBMDriver


class JumpDiffusionDriver(GBMDriver):
    def __init__(
        self,
        s0: float = 2000.0,
        mu: float = 0.0,
        sigma: float = 0.6,
        dt: float = 3600.0,
        jump_intensity: float = 12.0,
        jump_mean: float = -0.03,
        jump_std: float = 0.06,
    ):
        """``jump_intensity``: expected jumps a year; ``jump_mean``/``jump_std``: of each jump's log size."""
        super().__init__(s0, mu, sigma, dt)
        if jump_intensity < 0 or jump_std < 0:
            raise ValueError("jump_intensity and jump_std must be non-negative")
        self.jump_intensity, self.jump_mean, self.jump_std = float(jump_intensity), float(jump_mean), float(jump_std)
        self.compensator = jump_intensity * (np.exp(jump_mean + 0.5 * jump_std**2) - 1.0)

    def step(self) -> np.ndarray:
        n = self.price.shape
        jumps = self.generator.poisson(self.jump_intensity * self.dt_years, n)
        jump_log = jumps * self.jump_mean + np.sqrt(jumps) * self.jump_std * self.generator.standard_normal(n)
        diffusion = self.log_return(self.generator.standard_normal(n), self.sigma) - self.compensator * self.dt_years
        self.price = self.price * np.exp(diffusion + jump_log)
        return self.price.copy()
