"""Uniswap v3-core contracts/libraries/Tick.sol: fee growth inside a range from the per-tick "outside" values."""
from __future__ import annotations

from array_api_compat import array_namespace


def get_fee_growth_inside(tick_current, tick_lower, tick_upper, outside_lower, outside_upper, fee_growth_global):
    """Fee growth per unit of liquidity inside [lower, upper). The contract relies on uint256
    wrap-around; in float the same differences come out as plain (possibly negative) numbers."""
    xp = array_namespace(fee_growth_global)
    below = xp.where(tick_current >= tick_lower, outside_lower, fee_growth_global - outside_lower)
    above = xp.where(tick_current < tick_upper, outside_upper, fee_growth_global - outside_upper)
    return fee_growth_global - below - above
