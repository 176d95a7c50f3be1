"""What every role's spaces and action checks share: a Box of named features, a Discrete choice
(0 = do nothing), and the "act, and how much" continuous pair. A bad action fails here, naming what
the role expects."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

ACTION_TYPES = ("discrete", "continuous")
#: [act if a[0] > 0, a level mapped from a[1] in [-1, 1]]
ACT_AND_LEVEL = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def check_action_type(action_type: str) -> None:
    if action_type not in ACTION_TYPES:
        raise ValueError(f"action_type must be 'discrete' or 'continuous', got {action_type!r}")


def feature_box(features: tuple) -> spaces.Box:
    """An unbounded float32 Box with one entry per (name, meaning, unit) feature."""
    return spaces.Box(-np.inf, np.inf, shape=(len(features),), dtype=np.float32)


def choice(action, n: int, highest: int, expected: str) -> np.ndarray:
    """Discrete actions of ``n`` worlds as int64 in [0, highest]; else a ValueError saying ``expected``."""
    a = np.asarray(action).reshape(n)
    if not (np.issubdtype(a.dtype, np.integer) or np.all(np.mod(a, 1) == 0)) or np.any((a < 0) | (a > highest)):
        raise ValueError(f"{expected}, got {action!r}")
    return a.astype(np.int64)


def act_and_level(action, n: int, expected: str) -> tuple[np.ndarray, np.ndarray]:
    """Continuous ``ACT_AND_LEVEL`` actions of ``n`` worlds -> (act?, level in [0, 1])."""
    a = np.asarray(action, dtype=float).reshape(n, 2)
    if not np.all(np.isfinite(a)) or np.any(np.abs(a) > 1 + 1e-6):
        raise ValueError(f"{expected}, got {action!r}")
    return a[:, 0] > 0, (np.clip(a[:, 1], -1.0, 1.0) + 1) / 2
