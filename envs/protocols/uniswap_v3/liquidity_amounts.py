"""Uniswap v3-periphery contracts/libraries/LiquidityAmounts.sol: the liquidity a pair of amounts buys
in a range, and the amounts a liquidity is worth."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.uniswap_v3.sqrt_price_math import get_amount0_delta, get_amount1_delta
from envs.units import MAX_UINT128_FLOAT, Q96_FLOAT


def _q96_product(sqrt_a, sqrt_b):
    """getLiquidityForAmount0's intermediate, mulDiv(sqrtA, sqrtB, Q96): a Q64.96 number, floored.
    At the lowest prices (sqrt prices near 2**-64) that floor is most of the value, even zero."""
    xp = array_namespace(sqrt_a)
    return xp.floor(sqrt_a * sqrt_b * Q96_FLOAT) / Q96_FLOAT


def get_liquidity_for_amounts(sqrt_price, sqrt_lower, sqrt_upper, amount0, amount1):
    """The most liquidity ``amount0`` and ``amount1`` can fund in [lower, upper) at ``sqrt_price``.
    Where the library's ``toUint128`` would revert (a liquidity it computes, even the one the
    minimum then discards, does not fit 128 bits) the result is ``inf``: no position can be minted."""
    xp = array_namespace(sqrt_price)
    l0_below = amount0 * _q96_product(sqrt_lower, sqrt_upper) / (sqrt_upper - sqrt_lower)
    l1_above = amount1 / (sqrt_upper - sqrt_lower)
    inside = (sqrt_price > sqrt_lower) & (sqrt_price < sqrt_upper)
    s = xp.clip(sqrt_price, sqrt_lower, sqrt_upper)
    l0_in = amount0 * _q96_product(s, sqrt_upper) / xp.where(inside, sqrt_upper - s, 1.0)
    l1_in = amount1 / xp.where(inside, s - sqrt_lower, 1.0)
    liquidity = xp.where(
        sqrt_price <= sqrt_lower, l0_below, xp.where(sqrt_price < sqrt_upper, xp.minimum(l0_in, l1_in), l1_above)
    )
    computed_max = xp.where(
        sqrt_price <= sqrt_lower, l0_below, xp.where(sqrt_price < sqrt_upper, xp.maximum(l0_in, l1_in), l1_above)
    )
    return xp.where(computed_max > MAX_UINT128_FLOAT, xp.inf, liquidity)


def get_amounts_for_liquidity(sqrt_price, sqrt_lower, sqrt_upper, liquidity):
    """Token0 and token1 that ``liquidity`` in [lower, upper) holds at ``sqrt_price`` (Pool._modifyPosition)."""
    xp = array_namespace(sqrt_price)
    s = xp.clip(sqrt_price, sqrt_lower, sqrt_upper)
    return get_amount0_delta(s, sqrt_upper, liquidity), get_amount1_delta(sqrt_lower, s, liquidity)
