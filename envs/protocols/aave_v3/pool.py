"""aave-v3-core contracts/protocol/pool/Pool.sol, batched: N worlds, each an Aave market of R reserves
and A accounts. Actions follow SupplyLogic, BorrowLogic and LiquidationLogic in order
(updateState, validate, move balances, updateInterestRates). A world whose action the contract
would revert keeps its state and reports the Errors.sol code; amounts are raw units in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from envs.arrays import Array
from envs.assets import AaveReserveParams
from envs.protocols import array_namespace
from envs.protocols.aave_v3 import errors
from envs.protocols.aave_v3.generic_logic import (
    AccountData,
    account_data_of,
    balance_in_base,
    calculate_user_account_data,
    health_factor_above,
)
from envs.protocols.aave_v3.liquidation_logic import (
    CLOSE_FACTOR_HF_THRESHOLD,
    calculate_available_collateral_to_liquidate,
    calculate_debt,
)
from envs.protocols.aave_v3.math_utils import ray_div, ray_mul
from envs.protocols.aave_v3.reserve_logic import normalized_debt, normalized_income, update_interest_rates, update_state
from envs.protocols.aave_v3.validation_logic import (
    validate_borrow,
    validate_hf_after,
    validate_liquidation_call,
    validate_supply,
    validate_withdraw,
)
from envs.units import RAY_FLOAT


@dataclass(frozen=True)
class AaveParams:
    """Per-reserve parameters as (R,) arrays, in the contract's units (bps; rates as yearly fractions)."""

    symbols: tuple[str, ...]
    decimals: Array
    ltv: Array
    liquidation_threshold: Array
    liquidation_bonus: Array
    liquidation_protocol_fee: Array
    reserve_factor: Array
    base_variable_borrow_rate: Array
    variable_rate_slope1: Array
    variable_rate_slope2: Array
    optimal_usage_ratio: Array
    supply_cap: Array  # raw units, 0 = none
    borrow_cap: Array

    def index(self, symbol: str) -> int:
        if symbol not in self.symbols:
            raise KeyError(f"unknown reserve {symbol!r}; this market has {list(self.symbols)}")
        return self.symbols.index(symbol)


def aave_params(xp, reserves: dict[str, AaveReserveParams], device=None) -> AaveParams:
    def col(f):
        return xp.asarray([float(f(r)) for r in reserves.values()], dtype=xp.float64, device=device)

    return AaveParams(
        symbols=tuple(reserves),
        decimals=col(lambda r: r.decimals),
        ltv=col(lambda r: r.ltv),
        liquidation_threshold=col(lambda r: r.liquidation_threshold),
        liquidation_bonus=col(lambda r: r.liquidation_bonus),
        liquidation_protocol_fee=col(lambda r: r.liquidation_protocol_fee),
        reserve_factor=col(lambda r: r.reserve_factor),
        base_variable_borrow_rate=col(lambda r: r.base_variable_borrow_rate / RAY_FLOAT),
        variable_rate_slope1=col(lambda r: r.variable_rate_slope1 / RAY_FLOAT),
        variable_rate_slope2=col(lambda r: r.variable_rate_slope2 / RAY_FLOAT),
        optimal_usage_ratio=col(lambda r: r.optimal_usage_ratio / RAY_FLOAT),
        supply_cap=col(lambda r: r.supply_cap * 10**r.decimals),
        borrow_cap=col(lambda r: r.borrow_cap * 10**r.decimals),
    )


@dataclass
class AaveState:
    # reserves, (N, R)
    liquidity_index: Array  # ray / 1e27
    variable_borrow_index: Array
    liquidity_rate: Array  # yearly fraction
    variable_borrow_rate: Array
    last_update: Array  # seconds
    available_liquidity: Array  # underlying held by the aToken, raw
    scaled_atoken_supply: Array  # aToken scaled total supply, all holders
    scaled_variable_debt: Array  # variable debt token scaled total supply
    accrued_to_treasury: Array  # scaled
    # accounts, (N, A, R)
    scaled_atoken: Array
    scaled_variable_debt_of: Array
    collateral_enabled: Array  # (N, A, R) 1.0/0.0: UserConfiguration's "using as collateral" bit

    def copy(self) -> "AaveState":
        xp = array_namespace(self.liquidity_index)
        return replace(self, **{f.name: xp.asarray(getattr(self, f.name), copy=True) for f in fields(self)})


def initial_state(
    xp,
    n: int,
    n_accounts: int,
    n_reserves: int,
    now: float,
    device=None,
    *,
    liquidity_index=None,
    variable_borrow_index=None,
    liquidity_rate=None,
    variable_borrow_rate=None,
    available_liquidity=None,
    scaled_atoken_supply=None,
    scaled_variable_debt=None,
) -> AaveState:
    """Fresh reserves (indexes 1, nothing supplied) unless reserve values (R,) are given, e.g. read from a chain."""
    f = dict(dtype=xp.float64, device=device)

    def reserve(values, default):
        row = xp.asarray(values if values is not None else [default] * n_reserves, **f)
        return xp.broadcast_to(row, (n, n_reserves)) * 1.0

    return AaveState(
        liquidity_index=reserve(liquidity_index, 1.0),
        variable_borrow_index=reserve(variable_borrow_index, 1.0),
        liquidity_rate=reserve(liquidity_rate, 0.0),
        variable_borrow_rate=reserve(variable_borrow_rate, 0.0),
        last_update=xp.full((n, n_reserves), float(now), **f),
        available_liquidity=reserve(available_liquidity, 0.0),
        scaled_atoken_supply=reserve(scaled_atoken_supply, 0.0),
        scaled_variable_debt=reserve(scaled_variable_debt, 0.0),
        accrued_to_treasury=xp.zeros((n, n_reserves), **f),
        scaled_atoken=xp.zeros((n, n_accounts, n_reserves), **f),
        scaled_variable_debt_of=xp.zeros((n, n_accounts, n_reserves), **f),
        collateral_enabled=xp.zeros((n, n_accounts, n_reserves), **f),
    )


def _onehot(state: AaveState, reserve: int, mask):
    xp = array_namespace(state.liquidity_index)
    r = xp.arange(state.liquidity_index.shape[1], device=getattr(state.liquidity_index, "device", None)) == reserve
    return mask[:, None] & r[None, :]


def _commit(state: AaveState, trial: AaveState, ok) -> None:
    """Keep ``trial``'s values in worlds where the action succeeded (a revert leaves a world untouched)."""
    xp = array_namespace(state.liquidity_index)
    for f in fields(state):
        new, old = getattr(trial, f.name), getattr(state, f.name)
        keep = ok.reshape((-1,) + (1,) * (new.ndim - 1))
        setattr(state, f.name, xp.where(keep, new, old))


def balances(state: AaveState, account: int, now):
    """(aToken balances, variable debts) of ``account`` as of ``now``, (N, R) raw: the scaled balances
    times the indexes, rounded half up (AToken.balanceOf / VariableDebtToken.balanceOf: rayMul)."""
    return (
        ray_mul(state.scaled_atoken[:, account, :], normalized_income(state, now)),
        ray_mul(state.scaled_variable_debt_of[:, account, :], normalized_debt(state, now)),
    )


def account_data(state: AaveState, params: AaveParams, prices, account: int, now) -> AccountData:
    return calculate_user_account_data(state, params, prices, account, now)


def all_accounts(state: AaveState, params: AaveParams, prices, now) -> tuple[Array, Array, AccountData]:
    """Every account at once, as ``balances`` and ``account_data`` read each: (aToken balances, variable
    debts) (N, A, R) and the account data (N, A), the indexes computed once for all of them."""
    supplied = ray_mul(state.scaled_atoken, normalized_income(state, now)[:, None, :])
    debt = ray_mul(state.scaled_variable_debt_of, normalized_debt(state, now)[:, None, :])
    return supplied, debt, account_data_of(supplied, debt, state.collateral_enabled, params, prices[:, None, :])


def _scaled_or(code, scaled, zero_code):
    """The token's own require: a scaled amount that rounds to zero reverts (ScaledBalanceTokenBase)."""
    xp = array_namespace(scaled)
    return xp.where((code == 0) & (scaled == 0), zero_code, code)


def supply(state: AaveState, params: AaveParams, account: int, reserve: int, amount, now, mask):
    """SupplyLogic.executeSupply (a first supply of a reserve with LTV enables it as collateral);
    returns per-world error codes. The aToken mints ``rayDiv(amount, index)`` scaled units."""
    xp = array_namespace(amount)
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    index = t.liquidity_index[:, reserve]
    supplied_after = ray_mul(t.scaled_atoken_supply[:, reserve] + t.accrued_to_treasury[:, reserve], index) + amount
    code = validate_supply(amount, supplied_after, params.supply_cap[reserve])
    scaled = ray_div(amount, index)
    code = _scaled_or(code, scaled, errors.INVALID_MINT_AMOUNT)
    ok = mask & (code == 0)
    t.available_liquidity[:, reserve] += amount
    first_supply = (t.scaled_atoken[:, account, reserve] == 0) & (params.ltv[reserve] > 0)
    t.collateral_enabled[:, account, reserve] = xp.where(first_supply, 1.0, t.collateral_enabled[:, account, reserve])
    t.scaled_atoken[:, account, reserve] += scaled
    t.scaled_atoken_supply[:, reserve] += scaled
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return _codes(code, mask)


def withdraw(state: AaveState, params: AaveParams, prices, account: int, reserve: int, amount, now, mask):
    """SupplyLogic.executeWithdraw (``amount`` may be inf: everything); returns (amount withdrawn, codes).
    The aToken burns ``rayDiv(amount, index)``; withdrawing the whole balance clears the collateral
    bit; the health factor is checked only when the reserve was collateral (validateHFAndLtv)."""
    xp = array_namespace(amount)
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    index = t.liquidity_index[:, reserve]
    balance = ray_mul(t.scaled_atoken[:, account, reserve], index)
    amount = xp.where(xp.isinf(amount), balance, amount)  # type(uint256).max withdraws everything
    code = validate_withdraw(amount, balance)
    scaled = xp.minimum(ray_div(amount, index), t.scaled_atoken[:, account, reserve])
    code = _scaled_or(code, scaled, errors.INVALID_BURN_AMOUNT)
    code = xp.where((code == 0) & (amount > t.available_liquidity[:, reserve]), errors.NOT_ENOUGH_LIQUIDITY, code)
    was_collateral = t.collateral_enabled[:, account, reserve] > 0
    everything = amount == balance
    t.scaled_atoken[:, account, reserve] -= scaled
    t.collateral_enabled[:, account, reserve] = xp.where(everything, 0.0, t.collateral_enabled[:, account, reserve])
    t.scaled_atoken_supply[:, reserve] -= scaled
    t.available_liquidity[:, reserve] -= amount
    update_interest_rates(t, params, touched)
    after = calculate_user_account_data(t, params, prices, account, now)
    code = xp.where((code == 0) & was_collateral, validate_hf_after(after), code)
    ok = mask & (code == 0)
    _commit(state, t, ok)
    return xp.where(ok, amount, 0.0), _codes(code, mask)


def borrow(state: AaveState, params: AaveParams, prices, account: int, reserve: int, amount, now, mask):
    """BorrowLogic.executeBorrow at the variable rate; returns per-world error codes. The debt token
    mints ``rayDiv(amount, index)`` scaled units."""
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    code = _borrow_on(t, params, prices, account, reserve, amount, now)
    ok = mask & (code == 0)
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return _codes(code, mask)


def _borrow_on(t: AaveState, params: AaveParams, prices, account: int, reserve: int, amount, now):
    """executeBorrow's validation and balance moves on an updated trial state; returns the codes."""
    before = calculate_user_account_data(t, params, prices, account, now)
    unit = 10.0 ** params.decimals[reserve]
    index = t.variable_borrow_index[:, reserve]
    amount_base = balance_in_base(amount, prices[:, reserve], unit)
    debt_after = ray_mul(t.scaled_variable_debt[:, reserve], index) + amount
    code = validate_borrow(
        amount, amount_base, before, debt_after, params.borrow_cap[reserve], t.available_liquidity[:, reserve]
    )
    scaled = ray_div(amount, index)
    xp = array_namespace(amount)
    short_of_liquidity = code == errors.NOT_ENOUGH_LIQUIDITY  # the transfer out comes after the mint
    code = _scaled_or(xp.where(short_of_liquidity, 0, code), scaled, errors.INVALID_MINT_AMOUNT)
    code = xp.where((code == 0) & short_of_liquidity, errors.NOT_ENOUGH_LIQUIDITY, code)
    t.scaled_variable_debt_of[:, account, reserve] += scaled
    t.scaled_variable_debt[:, reserve] += scaled
    t.available_liquidity[:, reserve] -= amount
    return code


def repay(state: AaveState, params: AaveParams, account: int, reserve: int, amount, now, mask):
    """BorrowLogic.executeRepay (``amount`` may be inf: all the debt); returns (amount repaid, codes).
    The debt token burns ``rayDiv(paid, index)`` scaled units."""
    xp = array_namespace(amount)
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    paid, code = _repay_on(t, account, reserve, amount)
    ok = mask & (code == 0)
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return xp.where(ok, paid, 0.0), _codes(code, mask)


def _repay_on(t: AaveState, account: int, reserve: int, amount):
    """executeRepay's validation and balance moves on an updated trial state; returns (paid, codes)."""
    xp = array_namespace(amount)
    index = t.variable_borrow_index[:, reserve]
    debt = ray_mul(t.scaled_variable_debt_of[:, account, reserve], index)
    paid = xp.minimum(amount, debt)
    code = xp.where(~(amount > 0), errors.INVALID_AMOUNT, xp.where(~(debt > 0), errors.NO_DEBT_OF_SELECTED_TYPE, 0))
    scaled = xp.minimum(ray_div(paid, index), t.scaled_variable_debt_of[:, account, reserve])
    code = _scaled_or(code, scaled, errors.INVALID_BURN_AMOUNT)
    t.scaled_variable_debt_of[:, account, reserve] -= scaled
    t.scaled_variable_debt[:, reserve] -= scaled
    t.available_liquidity[:, reserve] += paid
    return paid, code


def borrow_or_repay(
    state: AaveState,
    params: AaveParams,
    prices,
    account: int,
    reserve: int,
    borrow_amount,
    repay_amount,
    now,
    borrow_mask,
    repay_mask,
):
    """``borrow`` in the worlds of ``borrow_mask`` and ``repay`` in those of ``repay_mask`` (disjoint), in
    one pass over the state: each world runs the one action's arithmetic (the other's amount is 0 there,
    which moves nothing), so the result is the two calls'. Returns per-world error codes."""
    xp = array_namespace(borrow_amount)
    if bool(xp.any(borrow_mask & repay_mask)):
        raise ValueError("borrow_or_repay: a world may borrow or repay, not both")
    _check_amount(borrow_amount, borrow_mask)
    _check_amount(repay_amount, repay_mask)
    t = state.copy()
    touched = _onehot(t, reserve, borrow_mask | repay_mask)
    update_state(t, params, now, touched)
    borrowed = _borrow_on(t, params, prices, account, reserve, xp.where(borrow_mask, borrow_amount, 0.0), now)
    _, repaid = _repay_on(t, account, reserve, xp.where(repay_mask, repay_amount, 0.0))
    code = xp.where(borrow_mask, borrowed, xp.where(repay_mask, repaid, 0))
    ok = (borrow_mask | repay_mask) & (code == 0)
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return code


@dataclass
class LiquidationResult:
    debt_repaid: Array  # (N,) raw debt asset the liquidator paid
    collateral_to_liquidator: Array  # (N,) raw collateral asset it received
    protocol_fee: Array  # (N,) raw collateral sent to the treasury
    error: Array  # (N,) Errors.sol code, 0 on success


def liquidation_call(
    state: AaveState, params: AaveParams, prices, user: int, collateral: int, debt: int, debt_to_cover, now, mask
) -> LiquidationResult:
    """LiquidationLogic.executeLiquidationCall, the liquidator taking the underlying collateral.

    In the contract's order: the debt tokens are burned and the debt reserve repriced counting the
    repayment as liquidity to come; then the collateral reserve is updated, repriced without the
    seized collateral, its aTokens burned and the protocol fee moved to the treasury (both as
    rayDiv'ed scaled amounts, so a full seizure may leave a unit of scaled dust, with the collateral
    bit cleared); the repayment reaches the debt reserve last (which matters when the collateral
    and the debt are the same asset)."""
    xp = array_namespace(debt_to_cover)
    _check_amount(debt_to_cover, mask)
    t = state.copy()
    update_state(t, params, now, _onehot(t, debt, mask))
    account = calculate_user_account_data(t, params, prices, user, now)
    borrow_index = t.variable_borrow_index[:, debt]
    user_debt = ray_mul(t.scaled_variable_debt_of[:, user, debt], borrow_index)
    income = normalized_income(t, now)[:, collateral]
    user_collateral = ray_mul(t.scaled_atoken[:, user, collateral], income)
    enabled = t.collateral_enabled[:, user, collateral] * params.liquidation_threshold[collateral]
    code = validate_liquidation_call(account, enabled, user_debt)
    actual_debt = calculate_debt(health_factor_above(account, CLOSE_FACTOR_HF_THRESHOLD), user_debt, debt_to_cover)
    to_liquidator, debt_repaid, fee, taken_all = calculate_available_collateral_to_liquidate(
        actual_debt,
        prices[:, debt],
        10.0 ** params.decimals[debt],
        prices[:, collateral],
        10.0 ** params.decimals[collateral],
        user_collateral,
        params.liquidation_bonus[collateral],
        params.liquidation_protocol_fee[collateral],
    )
    scaled_debt = xp.minimum(ray_div(debt_repaid, borrow_index), t.scaled_variable_debt_of[:, user, debt])
    code = _scaled_or(code, scaled_debt, errors.INVALID_BURN_AMOUNT)  # _burnDebtTokens
    scaled_seized = ray_div(to_liquidator, income)
    code = _scaled_or(code, scaled_seized, errors.INVALID_BURN_AMOUNT)  # _burnCollateralATokens
    ok = mask & (code == 0)
    debt_hot = _onehot(t, debt, mask)
    t.scaled_variable_debt_of[:, user, debt] -= scaled_debt
    t.scaled_variable_debt[:, debt] -= scaled_debt
    update_interest_rates(t, params, debt_hot, liquidity_added=xp.where(debt_hot, debt_repaid[:, None], 0.0))
    touched_collateral = _onehot(t, collateral, mask)
    update_state(t, params, now, touched_collateral)
    t.available_liquidity[:, collateral] -= to_liquidator
    update_interest_rates(t, params, touched_collateral)
    left = xp.clip(t.scaled_atoken[:, user, collateral] - scaled_seized, 0.0, None)
    # the fee moves as rayDiv(fee, index) scaled units, capped at what the user has left
    fee = xp.where(ray_div(fee, income) > left, ray_mul(left, income), fee)
    scaled_fee = xp.minimum(ray_div(fee, income), left)
    # Exact below 2**53 scaled units; above, the difference is float noise, and a full seizure leaves 0.
    unresolved = taken_all & (t.scaled_atoken[:, user, collateral] >= _EXACT)
    t.scaled_atoken[:, user, collateral] = xp.where(unresolved, 0.0, left - scaled_fee)
    t.collateral_enabled[:, user, collateral] = xp.where(taken_all, 0.0, t.collateral_enabled[:, user, collateral])
    t.scaled_atoken_supply[:, collateral] -= scaled_seized  # the fee stays as the treasury's aTokens
    t.available_liquidity[:, debt] += debt_repaid  # the liquidator's transfer comes last
    _commit(state, t, ok)
    zero = xp.zeros_like(debt_repaid)
    return LiquidationResult(
        xp.where(ok, debt_repaid, zero), xp.where(ok, to_liquidator, zero), xp.where(ok, fee, zero), _codes(code, mask)
    )


_EXACT = 2.0**53  # integers above this are not all representable in float64


def _check_amount(amount, mask) -> None:
    xp = array_namespace(amount)
    if bool(xp.any(mask & ~(amount >= 0))):
        raise ValueError("Aave amounts must be non-negative numbers of raw token units (inf: all of it)")


def _codes(code, mask):
    xp = array_namespace(code)
    return xp.where(mask, code, 0)
