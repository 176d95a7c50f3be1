"""Uniswap v3-core contracts/libraries/SwapMath.sol: one exact-input swap step within a tick range."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.uniswap_v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
)
from envs.units import FEE_DENOMINATOR, Q96_FLOAT

COARSE_BELOW = 2.0**-43  # sqrt prices whose Q64.96 integer has fewer than 53 bits


def compute_swap_step(sqrt_price, sqrt_target, liquidity, amount_remaining, fee_pips: int, zero_for_one):
    """Swap up to ``amount_remaining`` (input, fee included) toward ``sqrt_target``.

    Returns (sqrt price after, amount in net of fee, amount out, fee amount). When the target is
    reached the fee is ``amount_in * fee / (1e6 - fee)``; otherwise the whole remainder is spent
    and the fee is what the net input leaves of it, as in the contract. Amounts round as the
    contract rounds them (input net of fee down, input to target up, output down): exact in
    float64 below 2**53 raw units, and a relative 1e-16 matter above.
    """
    xp = array_namespace(sqrt_price)
    fee = fee_pips / FEE_DENOMINATOR
    remaining_less_fee = xp.floor(amount_remaining * (1.0 - fee))  # FullMath.mulDiv rounds down
    in_to_target = xp.ceil(
        xp.where(
            zero_for_one,
            get_amount0_delta(sqrt_target, sqrt_price, liquidity),
            get_amount1_delta(sqrt_price, sqrt_target, liquidity),
        )
    )
    reached = remaining_less_fee >= in_to_target
    partial_in = xp.where(reached, 0.0, remaining_less_fee)  # keeps inf out of the unused branch
    sqrt_exact = get_next_sqrt_price_from_input(sqrt_price, liquidity, partial_in, zero_for_one)
    sqrt_partial, in_short, out_short = _round_to_q96(sqrt_exact, liquidity, zero_for_one)
    sqrt_next = xp.where(reached, sqrt_target, sqrt_partial)
    amount_in = xp.where(reached, in_to_target, xp.ceil(remaining_less_fee - in_short))
    out_to_target = xp.where(
        zero_for_one,
        get_amount1_delta(sqrt_target, sqrt_price, liquidity),
        get_amount0_delta(sqrt_price, sqrt_target, liquidity),
    )
    # partial fill: out = x * sqrtP * sqrtP' (token0 in) or y / (sqrtP * sqrtP') (token1 in)
    out_partial = (
        xp.where(zero_for_one, partial_in * sqrt_price * sqrt_exact, partial_in / (sqrt_price * sqrt_exact)) - out_short
    )
    amount_out = xp.floor(xp.where(reached, out_to_target, out_partial))
    fee_amount = xp.where(
        reached, xp.ceil(in_to_target * fee / (1.0 - fee)), xp.where(reached, 0.0, amount_remaining) - amount_in
    )
    return sqrt_next, amount_in, amount_out, fee_amount


def _round_to_q96(sqrt_exact, liquidity, zero_for_one):
    """The contract's next price is a Q64.96 integer, rounded so the pool never gives more: up when
    token0 comes in (getNextSqrtPriceFromAmount0RoundingUp), down for token1. It then charges the
    input that reaches the rounded price and pays the output it gives; the input left over goes to
    the fee. Where sqrtPriceX96 has 53 bits or more a float is already on that grid and nothing
    changes; below (sqrt prices under 2**-43, ticks under ~-596,000) the rounding is most of a
    step's precision. Returns (rounded price, input short of the exact move, output short)."""
    xp = array_namespace(sqrt_exact)
    if not bool(xp.any(sqrt_exact < COARSE_BELOW)):  # the common case: every price already on the grid
        return sqrt_exact, 0.0, 0.0
    scaled = sqrt_exact * Q96_FLOAT
    on_grid = xp.where(zero_for_one, xp.ceil(scaled), xp.floor(scaled)) / Q96_FLOAT
    gap = xp.abs(on_grid - sqrt_exact)
    product = on_grid * sqrt_exact
    safe = xp.where(product > 0, product, 1.0)
    in_short = xp.where(zero_for_one, liquidity * gap / safe, liquidity * gap)
    out_short = xp.where(zero_for_one, liquidity * gap, liquidity * gap / safe)
    return on_grid, in_short, out_short
