"""The background liquidity a fresh USDC/WETH pool gets, on the chain and in the simulator alike:
ranges centred on the start price, concentrated near it and thinning out, like mainnet's pools."""

from __future__ import annotations

import math

from envs.units import MAX_TICK, MIN_TICK

#: (half-width as a fraction of price, share of the pool's value); None is the full range
DEFAULT_LIQUIDITY_PROFILE: tuple[tuple[float | None, float], ...] = (
    (0.005, 0.30),
    (0.02, 0.25),
    (0.10, 0.20),
    (0.30, 0.15),
    (None, 0.10),
)


def profile_ticks(center_tick, spacing: int, half_width: float | None):
    """(lower, upper) ticks of one range around ``center_tick`` (an int or an integer array)."""
    if half_width is None:
        return -(-MIN_TICK // spacing) * spacing + 0 * center_tick, MAX_TICK // spacing * spacing + 0 * center_tick
    w = max(spacing, round(math.log1p(half_width) / math.log1p(1e-4)))
    lower = (center_tick - w) // spacing * spacing
    upper = -((-(center_tick + w)) // spacing) * spacing
    return lower, upper
