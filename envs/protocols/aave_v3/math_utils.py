"""aave-v3-core contracts/protocol/libraries/math/MathUtils.sol: interest over elapsed seconds.
Rates are yearly fractions (the contract's ray / 1e27); results are growth factors (ray / 1e27)."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.units import PERCENTAGE_FACTOR, RAY_FLOAT, SECONDS_PER_YEAR

_PERCENTAGE_FACTOR = float(PERCENTAGE_FACTOR)  # the float64 math's PercentageMath.PERCENTAGE_FACTOR


def calculate_linear_interest(rate, seconds):
    """1 + rate * dt / year: how the liquidity index grows."""
    return 1.0 + rate * seconds / SECONDS_PER_YEAR


def calculate_compounded_interest(rate, seconds):
    """(1 + rate/year)^dt by the contract's binomial expansion to three terms (cheaper than pow,
    and slightly below it): how the variable borrow index grows. The contract floors the
    powers of the per-second rate to integers in ray units; basePowerThree is only ~1e2-1e4, so
    those floors move the third term by percents, and they are mirrored here."""
    xp = array_namespace(rate)
    rate_ray = rate * RAY_FLOAT
    exp_minus_one = xp.clip(seconds - 1, 0.0, None)
    exp_minus_two = xp.clip(seconds - 2, 0.0, None)
    base_power_two = xp.floor(xp.floor(rate_ray * rate_ray / RAY_FLOAT + 0.5) / (SECONDS_PER_YEAR * SECONDS_PER_YEAR))
    base_power_three = xp.floor(xp.floor(base_power_two * rate_ray / RAY_FLOAT + 0.5) / SECONDS_PER_YEAR)
    second_term = xp.floor(seconds * exp_minus_one * base_power_two / 2)
    third_term = xp.floor(seconds * exp_minus_one * exp_minus_two * base_power_three / 6)
    return 1.0 + (rate_ray * seconds / SECONDS_PER_YEAR + second_term + third_term) / RAY_FLOAT


# --- WadRayMath / PercentageMath with the contract's rounding --------------------------------------
# Amounts are raw token units held in float64: exact integers below 2**53, so the rounding below is
# the contract's wherever an amount is representable, and a no-op (already an integer) above.


def ray_mul(a, b):
    """WadRayMath.rayMul of a raw amount and an index (ray / 1e27): a * b rounded half up."""
    xp = array_namespace(a)
    return xp.floor(a * b + 0.5)


def ray_div(a, b):
    """WadRayMath.rayDiv of a raw amount by an index (ray / 1e27): a / b rounded half up."""
    xp = array_namespace(a)
    return xp.floor(a / b + 0.5)


def percent_mul(value, percentage):
    """PercentageMath.percentMul: value * percentage / 1e4 rounded half up, exact for integer values
    below 2**53 (the value is split so no product leaves the exact range)."""
    xp = array_namespace(value)
    high = xp.floor(value / _PERCENTAGE_FACTOR)
    low = value - high * _PERCENTAGE_FACTOR
    return high * percentage + xp.floor((low * percentage + 5_000.0) / _PERCENTAGE_FACTOR)


def percent_div(value, percentage):
    """PercentageMath.percentDiv: value * 1e4 / percentage rounded half up (the contract adds half the
    percentage, floored), exact for integer values below 2**53."""
    xp = array_namespace(value)
    safe = xp.where(percentage > 0, percentage, 1.0)
    quotient = xp.floor(value / safe)
    rest = value - quotient * safe
    quotient = xp.where(rest < 0, quotient - 1, xp.where(rest >= safe, quotient + 1, quotient))
    rest = value - quotient * safe
    return quotient * _PERCENTAGE_FACTOR + xp.floor((rest * _PERCENTAGE_FACTOR + xp.floor(safe / 2)) / safe)


def _split(a):
    c = 134217729.0 * a  # Dekker's split: 2**27 + 1
    high = c - (c - a)
    return high, a - high


def _two_product(a, b):
    """a * b as p + e exactly (Dekker)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def mul_div_floor(a, b, c):
    """floor(a * b / c) for integer-valued floats, as the contract's integer division: the float
    quotient is corrected by the sign of the exact remainder a*b - q*c (error-free products),
    so it is exact whenever a, b and c are (below 2**53)."""
    xp = array_namespace(a)
    q = xp.floor(a * b / c)
    p, e = _two_product(a, b)
    s, g = _two_product(q, c)
    rest = (p - s) + (e - g)
    return xp.where(rest < 0, q - 1, xp.where(rest >= c, q + 1, q))
