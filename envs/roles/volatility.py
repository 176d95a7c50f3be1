"""Realized volatility of the reference price, as the roles observe it: an exponentially weighted
mean of squared log returns (RiskMetrics-style), annualized."""

from __future__ import annotations

import numpy as np

from envs.roles.role import Role
from envs.units import SECONDS_PER_YEAR


class EwmaVolatility:
    def __init__(self, halflife_steps: float = 24.0):
        self.decay = 0.5 ** (1 / halflife_steps)

    def reset(self, reference: np.ndarray) -> None:
        self.variance, self.last_return, self.last_reference = (
            np.zeros(len(reference)),
            np.zeros(len(reference)),
            reference,
        )

    def update(self, reference: np.ndarray) -> None:
        self.last_return = np.log(reference / self.last_reference)
        self.variance = self.decay * self.variance + (1 - self.decay) * self.last_return**2
        self.last_reference = reference

    def annualized(self, dt: float) -> np.ndarray:
        return np.sqrt(self.variance * SECONDS_PER_YEAR / dt)


class WatchesReference(Role):
    """The base (``Role``) of a role that observes the reference price: ``reset`` starts its volatility estimate at an
    episode's start and ``observe`` updates it once per block, each returning ``observation(market)``.
    The role sets ``volatility_halflife_steps`` and defines ``observation``; ``start`` and ``read`` are
    where it reads anything else at the start and after each block."""

    volatility_halflife_steps: float

    def reset(self, market, elapsed: float = 0.0) -> np.ndarray:
        self.volatility = EwmaVolatility(self.volatility_halflife_steps)
        self.volatility.reset(market.reference_price())
        self.start(market)
        return self.observation(market)

    def observe(self, market, elapsed: float = 0.0) -> np.ndarray:
        self.volatility.update(market.reference_price())
        self.read(market)
        return self.observation(market)

    def start(self, market) -> None:
        """What the role reads as an episode starts, beside the reference price."""
        self.read(market)

    def read(self, market) -> None:
        """What the role reads after each block, beside the reference price."""

    def observation(self, market) -> np.ndarray:
        raise NotImplementedError
