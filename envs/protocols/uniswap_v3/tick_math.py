"""Uniswap v3-core contracts/libraries/TickMath.sol: sqrt price <-> tick, price = 1.0001^tick."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

MIN_TICK = -887272  # TickMath.MIN_TICK
MAX_TICK = 887272  # TickMath.MAX_TICK
MIN_SQRT_RATIO = 4295128739 / 2**96  # sqrt price at MIN_TICK
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342 / 2**96  # sqrt price at MAX_TICK
LOG_SQRT_1_0001 = math.log1p(1e-4) / 2  # log1p: log(1.0001) of the float 1.0001 is 1e-13 off


def get_sqrt_ratio_at_tick(tick):
    """sqrt(1.0001^tick) as a float (the contract's Q64.96 value / 2**96)."""
    xp = array_namespace(tick)
    return xp.exp(xp.astype(tick, xp.float64) * LOG_SQRT_1_0001)


def get_tick_at_sqrt_ratio(sqrt_price):
    """The greatest tick whose sqrt ratio is <= ``sqrt_price`` (exact at tick boundaries)."""
    xp = array_namespace(sqrt_price)
    tick = xp.astype(xp.floor(xp.log(sqrt_price) / LOG_SQRT_1_0001), xp.int64)
    tick = xp.where(get_sqrt_ratio_at_tick(tick + 1) <= sqrt_price, tick + 1, tick)
    return xp.where(get_sqrt_ratio_at_tick(tick) > sqrt_price, tick - 1, tick)
