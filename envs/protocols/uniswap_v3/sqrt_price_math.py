"""Uniswap v3-core contracts/libraries/SqrtPriceMath.sol: token deltas between sqrt prices, and the
next sqrt price after an input. Written in forms free of cancellation so small swaps stay exact
to ~1e-12 relative in float64."""

from __future__ import annotations

from envs.protocols import array_namespace


def get_amount0_delta(sqrt_a, sqrt_b, liquidity):
    """Token0 between two sqrt prices: L * (1/sqrt_lo - 1/sqrt_hi)."""
    xp = array_namespace(sqrt_a, sqrt_b)
    lo, hi = xp.minimum(sqrt_a, sqrt_b), xp.maximum(sqrt_a, sqrt_b)
    return liquidity * (hi - lo) / (hi * lo)


def get_amount1_delta(sqrt_a, sqrt_b, liquidity):
    """Token1 between two sqrt prices: L * (sqrt_hi - sqrt_lo)."""
    xp = array_namespace(sqrt_a, sqrt_b)
    return liquidity * xp.abs(sqrt_b - sqrt_a)


def get_next_sqrt_price_from_input(sqrt_price, liquidity, amount_in, zero_for_one):
    """Token0 in: L*sqrtP / (L + x*sqrtP) (getNextSqrtPriceFromAmount0RoundingUp);
    token1 in: sqrtP + y/L (getNextSqrtPriceFromAmount1RoundingDown)."""
    xp = array_namespace(sqrt_price)
    safe_l = xp.where(liquidity > 0, liquidity, 1.0)
    return xp.where(
        zero_for_one, safe_l * sqrt_price / (safe_l + amount_in * sqrt_price), sqrt_price + amount_in / safe_l
    )
