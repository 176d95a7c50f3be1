"""aave-v3-core contracts/protocol/libraries/math/MathUtils.sol: interest over elapsed seconds.
Rates are yearly fractions (the contract's ray / 1e27); results are growth factors (ray / 1e27)."""
from __future__ import annotations

from array_api_compat import array_namespace

SECONDS_PER_YEAR = 365 * 24 * 3600  # MathUtils.SECONDS_PER_YEAR
RAY = 1e27


def calculate_linear_interest(rate, seconds):
    """1 + rate * dt / year: how the liquidity index grows."""
    return 1.0 + rate * seconds / SECONDS_PER_YEAR


def calculate_compounded_interest(rate, seconds):
    """(1 + rate/year)^dt by the contract's binomial expansion to three terms (cheaper than pow,
    and slightly below it): how the variable borrow index grows. The contract floors the
    powers of the per-second rate to integers in ray units; basePowerThree is only ~1e2-1e4, so
    those floors move the third term by percents, and they are mirrored here."""
    xp = array_namespace(rate)
    rate_ray = rate * RAY
    exp_minus_one = xp.clip(seconds - 1, 0.0, None)
    exp_minus_two = xp.clip(seconds - 2, 0.0, None)
    base_power_two = xp.floor(xp.floor(rate_ray * rate_ray / RAY + 0.5) / (SECONDS_PER_YEAR * SECONDS_PER_YEAR))
    base_power_three = xp.floor(xp.floor(base_power_two * rate_ray / RAY + 0.5) / SECONDS_PER_YEAR)
    second_term = xp.floor(seconds * exp_minus_one * base_power_two / 2)
    third_term = xp.floor(seconds * exp_minus_one * exp_minus_two * base_power_three / 6)
    return 1.0 + (rate_ray * seconds / SECONDS_PER_YEAR + second_term + third_term) / RAY
