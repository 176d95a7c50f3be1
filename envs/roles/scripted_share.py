"""A role that steers one of the world's scripted traders by the share of its bound it acts on this block
(the sandwich searcher's largest front-run, the JIT LP's capital): ``Discrete(1 + len(shares))``, 0 stays
out and ``i`` takes ``shares[i-1]``. The searcher and the JIT provider differ only in what they read and
are rewarded by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from envs.roles.actions import choice, feature_box
from envs.roles.protocol import Receipt
from envs.roles.volatility import WatchesReference

DEFAULT_SHARES = (0.25, 0.5, 0.75, 1.0)


@dataclass
class ScriptedShare(WatchesReference):
    shares: tuple[float, ...] = DEFAULT_SHARES
    volatility_halflife_steps: float = 24.0
    #: the observation's (name, meaning, unit) in order, and what an action does (for the error message)
    FEATURES: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    ACTION_MEANING: ClassVar[str] = ""

    def __post_init__(self):
        if not self.shares or min(self.shares) <= 0 or max(self.shares) > 1:
            raise ValueError(f"shares must lie in (0, 1], got {self.shares}")

    @property
    def features(self) -> tuple[tuple[str, str, str], ...]:
        """The observation's (name, meaning, unit) in order."""
        return self.FEATURES

    @property
    def observation_space(self) -> spaces.Box:
        return feature_box(self.features)

    @property
    def action_space(self) -> spaces.Space:
        return spaces.Discrete(1 + len(self.shares))

    def decode(self, action, n: int) -> np.ndarray:
        """Actions -> the share of the bound to act on this block, per world."""
        a = choice(
            action,
            n,
            len(self.shares),
            f"{type(self).__name__} actions must be integers in [0, {len(self.shares)}]: 0 stays out, "
            f"i {self.ACTION_MEANING} shares[i-1] of {self.shares}",
        )
        return np.asarray((0.0,) + tuple(self.shares))[a]

    def receipt(self, share: np.ndarray) -> Receipt:
        """What setting the share costs: nothing (the scripted trader's swaps pay no gas), the share noted."""
        return Receipt(np.zeros(len(share)), None, {"share": share})
