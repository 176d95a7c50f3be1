"""aave-v3-core contracts/protocol/pool/DefaultReserveInterestRateStrategy.sol (1.19): the kinked rate
curve. Below the optimal usage ratio the variable rate climbs slope1; above it, slope2."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.units import BPS


def calculate_interest_rates(
    total_variable_debt, available_liquidity, reserve_factor_bps, base_rate, slope1, slope2, optimal_usage
):
    """(liquidity rate, variable borrow rate), yearly fractions, with no stable debt or unbacked supply."""
    xp = array_namespace(total_variable_debt)
    liquidity_plus_debt = available_liquidity + total_variable_debt
    usage = xp.where(
        total_variable_debt > 0, total_variable_debt / xp.where(liquidity_plus_debt > 0, liquidity_plus_debt, 1.0), 0.0
    )
    excess = (usage - optimal_usage) / (1.0 - optimal_usage)  # MAX_EXCESS_USAGE_RATIO = 1 - optimal
    variable_rate = base_rate + xp.where(
        usage > optimal_usage, slope1 + slope2 * excess, slope1 * usage / optimal_usage
    )
    liquidity_rate = variable_rate * usage * (BPS - reserve_factor_bps) / BPS
    return liquidity_rate, variable_rate
