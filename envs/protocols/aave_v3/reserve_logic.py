"""aave-v3-core contracts/protocol/libraries/logic/ReserveLogic.sol: accrue a reserve's indexes to now
(updateState, with the reserve factor's share set aside for the treasury), and reprice it after
liquidity moves (updateInterestRates). All arrays are (N, R): worlds by reserves."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.aave_v3.interest_rate_strategy import calculate_interest_rates
from envs.protocols.aave_v3.math_utils import calculate_compounded_interest, calculate_linear_interest, ray_mul
from envs.units import BPS


def normalized_income(state, now):
    """The liquidity index as of ``now`` without writing it (getNormalizedIncome)."""
    dt = now[:, None] - state.last_update
    return state.liquidity_index * calculate_linear_interest(state.liquidity_rate, dt)


def normalized_debt(state, now):
    """The variable borrow index as of ``now`` (getNormalizedVariableDebt)."""
    dt = now[:, None] - state.last_update
    return state.variable_borrow_index * calculate_compounded_interest(state.variable_borrow_rate, dt)


def update_state(state, params, now, touched) -> None:
    """Accrue every ``touched`` (N, R) reserve to ``now`` (N,): indexes, treasury share, timestamp."""
    xp = array_namespace(state.liquidity_index)
    dt = now[:, None] - state.last_update
    go = touched & (dt > 0)
    next_liquidity = xp.where(
        state.liquidity_rate > 0,
        state.liquidity_index * calculate_linear_interest(state.liquidity_rate, dt),
        state.liquidity_index,
    )
    has_debt = state.scaled_variable_debt > 0
    next_borrow = xp.where(
        has_debt,
        state.variable_borrow_index * calculate_compounded_interest(state.variable_borrow_rate, dt),
        state.variable_borrow_index,
    )
    accrued = state.scaled_variable_debt * (next_borrow - state.variable_borrow_index)  # _accrueToTreasury
    to_treasury = accrued * params.reserve_factor / BPS / next_liquidity
    state.accrued_to_treasury = xp.where(go, state.accrued_to_treasury + to_treasury, state.accrued_to_treasury)
    state.liquidity_index = xp.where(go, next_liquidity, state.liquidity_index)
    state.variable_borrow_index = xp.where(go, next_borrow, state.variable_borrow_index)
    state.last_update = xp.where(touched, now[:, None] + 0.0 * state.last_update, state.last_update)


def update_interest_rates(state, params, touched, liquidity_added=None) -> None:
    """Reprice ``touched`` reserves from their current debt and available liquidity (the aToken's
    balance plus ``liquidity_added``, (N, R), for underlying the action moves in only after the
    repricing, as ReserveLogic.updateInterestRates' liquidityAdded)."""
    xp = array_namespace(state.liquidity_index)
    total_debt = ray_mul(state.scaled_variable_debt, state.variable_borrow_index)
    available = state.available_liquidity if liquidity_added is None else state.available_liquidity + liquidity_added
    liquidity_rate, variable_rate = calculate_interest_rates(
        total_debt,
        available,
        params.reserve_factor,
        params.base_variable_borrow_rate,
        params.variable_rate_slope1,
        params.variable_rate_slope2,
        params.optimal_usage_ratio,
    )
    state.liquidity_rate = xp.where(touched, liquidity_rate, state.liquidity_rate)
    state.variable_borrow_rate = xp.where(touched, variable_rate, state.variable_borrow_rate)
