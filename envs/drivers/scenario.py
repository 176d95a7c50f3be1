"""A scripted stress scenario: every world follows the same given price path (a crash, a squeeze),
so a test or an evaluation sees exactly the move it asks for."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.drivers.base import PriceDriver


class ScenarioDriver(PriceDriver):
    def __init__(self, prices: Sequence[float], dt: float = 3600.0):
        super().__init__(dt)
        self.prices = np.asarray(prices, dtype=float)
        if self.prices.ndim != 1 or len(self.prices) < 2 or not np.all(self.prices > 0):
            raise ValueError("a scenario needs a path of at least two positive prices")

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        self.rng, self.n, self.steps = rng, n, 0
        return np.full(n, self.prices[0])

    def step(self) -> np.ndarray:
        self.steps += 1
        if self.steps >= len(self.prices):
            raise ValueError(
                f"the scenario has {len(self.prices) - 1} steps; the episode asked for more "
                f"(shorten the horizon or extend the path)"
            )
        return np.full(self.n, self.prices[self.steps])


def crash(
    start: float = 2000.0, drop: float = 0.25, calm_steps: int = 6, crash_steps: int = 5, after_steps: int = 30
) -> np.ndarray:
    """A flat path that falls by ``drop`` over ``crash_steps`` steps and stays down."""
    return np.concatenate(
        [
            np.full(calm_steps, start),
            start * np.linspace(1, 1 - drop, crash_steps + 1)[1:],
            np.full(after_steps, start * (1 - drop)),
        ]
    )
