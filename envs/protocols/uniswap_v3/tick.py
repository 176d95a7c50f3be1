"""Uniswap v3-core contracts/libraries/Tick.sol: fee growth inside a range from the per-tick "outside" values."""

from __future__ import annotations

from envs.protocols import array_namespace


def get_fee_growth_inside(tick_current, tick_lower, tick_upper, outside_lower, outside_upper, fee_growth_global):
    """Fee growth per unit of liquidity inside [lower, upper). The contract computes
    global - below - above with uint256 wrap-around; in float that difference is written per case
    so the global value only enters while the price is inside the range: out of range, the result
    is the same difference of outside values each time, and a position accrues exactly nothing
    (global - (global - x) would leave a rounding residue of global's size)."""
    xp = array_namespace(fee_growth_global)
    below_range = outside_lower - outside_upper
    above_range = outside_upper - outside_lower
    inside_range = fee_growth_global - outside_lower - outside_upper
    return xp.where(
        tick_current < tick_lower, below_range, xp.where(tick_current >= tick_upper, above_range, inside_range)
    )
