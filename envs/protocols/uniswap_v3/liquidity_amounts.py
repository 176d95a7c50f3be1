"""Uniswap v3-periphery contracts/libraries/LiquidityAmounts.sol: the liquidity a pair of amounts buys
in a range, and the amounts a liquidity is worth."""
from __future__ import annotations

from array_api_compat import array_namespace

from envs.protocols.uniswap_v3.sqrt_price_math import get_amount0_delta, get_amount1_delta


def get_liquidity_for_amounts(sqrt_price, sqrt_lower, sqrt_upper, amount0, amount1):
    """The most liquidity ``amount0`` and ``amount1`` can fund in [lower, upper) at ``sqrt_price``."""
    xp = array_namespace(sqrt_price)
    l0_below = amount0 * sqrt_lower * sqrt_upper / (sqrt_upper - sqrt_lower)
    l1_above = amount1 / (sqrt_upper - sqrt_lower)
    inside = (sqrt_price > sqrt_lower) & (sqrt_price < sqrt_upper)
    s = xp.clip(sqrt_price, sqrt_lower, sqrt_upper)
    l0_in = amount0 * s * sqrt_upper / xp.where(inside, sqrt_upper - s, 1.0)
    l1_in = amount1 / xp.where(inside, s - sqrt_lower, 1.0)
    return xp.where(sqrt_price <= sqrt_lower, l0_below,
                    xp.where(sqrt_price < sqrt_upper, xp.minimum(l0_in, l1_in), l1_above))


def get_amounts_for_liquidity(sqrt_price, sqrt_lower, sqrt_upper, liquidity):
    """Token0 and token1 that ``liquidity`` in [lower, upper) holds at ``sqrt_price`` (Pool._modifyPosition)."""
    xp = array_namespace(sqrt_price)
    s = xp.clip(sqrt_price, sqrt_lower, sqrt_upper)
    return get_amount0_delta(s, sqrt_upper, liquidity), get_amount1_delta(sqrt_lower, s, liquidity)
