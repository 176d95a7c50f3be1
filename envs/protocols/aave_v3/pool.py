"""aave-v3-core contracts/protocol/pool/Pool.sol, batched: N worlds, each an Aave market of R reserves
and A accounts. Actions follow SupplyLogic, BorrowLogic and LiquidationLogic in order
(updateState, validate, move balances, updateInterestRates). A world whose action the contract
would revert keeps its state and reports the Errors.sol code; amounts are raw units in float64.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from array_api_compat import array_namespace

from envs.data import AaveReserveParams
from envs.protocols.aave_v3 import errors
from envs.protocols.aave_v3.generic_logic import AccountData, calculate_user_account_data
from envs.protocols.aave_v3.liquidation_logic import calculate_available_collateral_to_liquidate, calculate_debt
from envs.protocols.aave_v3.reserve_logic import (normalized_debt, normalized_income, update_interest_rates,
                                                  update_state)
from envs.protocols.aave_v3.validation_logic import (validate_borrow, validate_hf_after, validate_liquidation_call,
                                                     validate_supply, validate_withdraw)

RAY = 1e27


@dataclass(frozen=True)
class AaveParams:
    """Per-reserve parameters as (R,) arrays, in the contract's units (bps; rates as yearly fractions)."""

    symbols: tuple[str, ...]
    decimals: object
    ltv: object
    liquidation_threshold: object
    liquidation_bonus: object
    liquidation_protocol_fee: object
    reserve_factor: object
    base_variable_borrow_rate: object
    variable_rate_slope1: object
    variable_rate_slope2: object
    optimal_usage_ratio: object
    supply_cap: object  # raw units, 0 = none
    borrow_cap: object

    def index(self, symbol: str) -> int:
        if symbol not in self.symbols:
            raise KeyError(f"unknown reserve {symbol!r}; this market has {list(self.symbols)}")
        return self.symbols.index(symbol)


def aave_params(xp, reserves: dict[str, AaveReserveParams], device=None) -> AaveParams:
    def col(f):
        return xp.asarray([float(f(r)) for r in reserves.values()], dtype=xp.float64, device=device)

    return AaveParams(
        symbols=tuple(reserves), decimals=col(lambda r: r.decimals), ltv=col(lambda r: r.ltv),
        liquidation_threshold=col(lambda r: r.liquidation_threshold), liquidation_bonus=col(lambda r: r.liquidation_bonus),
        liquidation_protocol_fee=col(lambda r: r.liquidation_protocol_fee), reserve_factor=col(lambda r: r.reserve_factor),
        base_variable_borrow_rate=col(lambda r: r.base_variable_borrow_rate / RAY),
        variable_rate_slope1=col(lambda r: r.variable_rate_slope1 / RAY),
        variable_rate_slope2=col(lambda r: r.variable_rate_slope2 / RAY),
        optimal_usage_ratio=col(lambda r: r.optimal_usage_ratio / RAY),
        supply_cap=col(lambda r: r.supply_cap * 10**r.decimals), borrow_cap=col(lambda r: r.borrow_cap * 10**r.decimals))


@dataclass
class AaveState:
    # reserves, (N, R)
    liquidity_index: object  # ray / 1e27
    variable_borrow_index: object
    liquidity_rate: object  # yearly fraction
    variable_borrow_rate: object
    last_update: object  # seconds
    available_liquidity: object  # underlying held by the aToken, raw
    scaled_atoken_supply: object  # aToken scaled total supply, all holders
    scaled_variable_debt: object  # variable debt token scaled total supply
    accrued_to_treasury: object  # scaled
    # accounts, (N, A, R)
    scaled_atoken: object
    scaled_variable_debt_of: object
    collateral_enabled: object  # (N, A, R) 1.0/0.0: UserConfiguration's "using as collateral" bit

    def copy(self) -> "AaveState":
        xp = array_namespace(self.liquidity_index)
        return replace(self, **{f.name: xp.asarray(getattr(self, f.name), copy=True) for f in fields(self)})


def initial_state(xp, n: int, n_accounts: int, n_reserves: int, now: float, device=None, *,
                  liquidity_index=None, variable_borrow_index=None, liquidity_rate=None, variable_borrow_rate=None,
                  available_liquidity=None, scaled_atoken_supply=None, scaled_variable_debt=None) -> AaveState:
    """Fresh reserves (indexes 1, nothing supplied) unless reserve values (R,) are given, e.g. read from a chain."""
    f = dict(dtype=xp.float64, device=device)

    def reserve(values, default):
        row = xp.asarray(values if values is not None else [default] * n_reserves, **f)
        return xp.broadcast_to(row, (n, n_reserves)) * 1.0

    return AaveState(
        liquidity_index=reserve(liquidity_index, 1.0), variable_borrow_index=reserve(variable_borrow_index, 1.0),
        liquidity_rate=reserve(liquidity_rate, 0.0), variable_borrow_rate=reserve(variable_borrow_rate, 0.0),
        last_update=xp.full((n, n_reserves), float(now), **f), available_liquidity=reserve(available_liquidity, 0.0),
        scaled_atoken_supply=reserve(scaled_atoken_supply, 0.0), scaled_variable_debt=reserve(scaled_variable_debt, 0.0),
        accrued_to_treasury=xp.zeros((n, n_reserves), **f),
        scaled_atoken=xp.zeros((n, n_accounts, n_reserves), **f),
        scaled_variable_debt_of=xp.zeros((n, n_accounts, n_reserves), **f),
        collateral_enabled=xp.zeros((n, n_accounts, n_reserves), **f))


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
    """(aToken balances, variable debts) of ``account`` as of ``now``, (N, R) raw."""
    return (state.scaled_atoken[:, account, :] * normalized_income(state, now),
            state.scaled_variable_debt_of[:, account, :] * normalized_debt(state, now))


def account_data(state: AaveState, params: AaveParams, prices, account: int, now) -> AccountData:
    return calculate_user_account_data(state, params, prices, account, now)


def supply(state: AaveState, params: AaveParams, account: int, reserve: int, amount, now, mask):
    """SupplyLogic.executeSupply (a first supply of a reserve with LTV enables it as collateral);
    returns per-world error codes."""
    xp = array_namespace(amount)
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    supplied_after = (t.scaled_atoken_supply[:, reserve] + t.accrued_to_treasury[:, reserve]) * t.liquidity_index[:, reserve] + amount
    code = validate_supply(amount, supplied_after, params.supply_cap[reserve])
    ok = mask & (code == 0)
    scaled = amount / t.liquidity_index[:, reserve]
    t.available_liquidity[:, reserve] += amount
    first_supply = (t.scaled_atoken[:, account, reserve] == 0) & (params.ltv[reserve] > 0)
    t.collateral_enabled[:, account, reserve] = xp.where(first_supply, 1.0, t.collateral_enabled[:, account, reserve])
    t.scaled_atoken[:, account, reserve] += scaled
    t.scaled_atoken_supply[:, reserve] += scaled
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return _codes(code, mask)


def withdraw(state: AaveState, params: AaveParams, prices, account: int, reserve: int, amount, now, mask):
    """SupplyLogic.executeWithdraw (``amount`` may be inf: everything); returns (amount withdrawn, codes)."""
    xp = array_namespace(amount)
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    balance = t.scaled_atoken[:, account, reserve] * t.liquidity_index[:, reserve]
    amount = xp.where(xp.isinf(amount), balance, amount)  # type(uint256).max withdraws everything
    code = validate_withdraw(amount, balance)
    code = xp.where((code == 0) & (amount > t.available_liquidity[:, reserve]), errors.NOT_ENOUGH_LIQUIDITY, code)
    everything = amount >= balance
    scaled = xp.where(everything, t.scaled_atoken[:, account, reserve], amount / t.liquidity_index[:, reserve])
    t.scaled_atoken[:, account, reserve] -= scaled
    t.collateral_enabled[:, account, reserve] = xp.where(everything, 0.0, t.collateral_enabled[:, account, reserve])
    t.scaled_atoken_supply[:, reserve] -= scaled
    t.available_liquidity[:, reserve] -= amount
    update_interest_rates(t, params, touched)
    after = calculate_user_account_data(t, params, prices, account, now)
    code = xp.where(code == 0, validate_hf_after(after), code)
    ok = mask & (code == 0)
    _commit(state, t, ok)
    return xp.where(ok, amount, 0.0), _codes(code, mask)


def borrow(state: AaveState, params: AaveParams, prices, account: int, reserve: int, amount, now, mask):
    """BorrowLogic.executeBorrow at the variable rate; returns per-world error codes."""
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    before = calculate_user_account_data(t, params, prices, account, now)
    unit = 10.0 ** params.decimals[reserve]
    amount_base = array_namespace(amount).floor(prices[:, reserve] * amount / unit)
    debt_after = t.scaled_variable_debt[:, reserve] * t.variable_borrow_index[:, reserve] + amount
    code = validate_borrow(amount, amount_base, before, debt_after, params.borrow_cap[reserve],
                           t.available_liquidity[:, reserve])
    ok = mask & (code == 0)
    scaled = amount / t.variable_borrow_index[:, reserve]
    t.scaled_variable_debt_of[:, account, reserve] += scaled
    t.scaled_variable_debt[:, reserve] += scaled
    t.available_liquidity[:, reserve] -= amount
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return _codes(code, mask)


def repay(state: AaveState, params: AaveParams, account: int, reserve: int, amount, now, mask):
    """BorrowLogic.executeRepay (``amount`` may be inf: all the debt); returns (amount repaid, codes)."""
    xp = array_namespace(amount)
    _check_amount(amount, mask)
    t = state.copy()
    touched = _onehot(t, reserve, mask)
    update_state(t, params, now, touched)
    debt = t.scaled_variable_debt_of[:, account, reserve] * t.variable_borrow_index[:, reserve]
    paid = xp.minimum(amount, debt)
    code = xp.where(~(amount > 0), errors.INVALID_AMOUNT, xp.where(~(debt > 0), errors.NO_DEBT_OF_SELECTED_TYPE, 0))
    ok = mask & (code == 0)
    scaled = xp.where(paid >= debt, t.scaled_variable_debt_of[:, account, reserve], paid / t.variable_borrow_index[:, reserve])
    t.scaled_variable_debt_of[:, account, reserve] -= scaled
    t.scaled_variable_debt[:, reserve] -= scaled
    t.available_liquidity[:, reserve] += paid
    update_interest_rates(t, params, touched)
    _commit(state, t, ok)
    return xp.where(ok, paid, 0.0), _codes(code, mask)


@dataclass
class LiquidationResult:
    debt_repaid: object  # (N,) raw debt asset the liquidator paid
    collateral_to_liquidator: object  # (N,) raw collateral asset it received
    protocol_fee: object  # (N,) raw collateral sent to the treasury
    error: object  # (N,) Errors.sol code, 0 on success


def liquidation_call(state: AaveState, params: AaveParams, prices, user: int, collateral: int, debt: int,
                     debt_to_cover, now, mask) -> LiquidationResult:
    """LiquidationLogic.executeLiquidationCall, the liquidator taking the underlying collateral."""
    xp = array_namespace(debt_to_cover)
    _check_amount(debt_to_cover, mask)
    t = state.copy()
    update_state(t, params, now, _onehot(t, debt, mask))
    account = calculate_user_account_data(t, params, prices, user, now)
    user_debt = t.scaled_variable_debt_of[:, user, debt] * t.variable_borrow_index[:, debt]
    user_collateral = t.scaled_atoken[:, user, collateral] * normalized_income(t, now)[:, collateral]
    enabled = t.collateral_enabled[:, user, collateral] * params.liquidation_threshold[collateral]
    code = validate_liquidation_call(account, enabled, user_debt)
    actual_debt = calculate_debt(account.health_factor, user_debt, debt_to_cover)
    to_liquidator, debt_repaid, fee, taken_all = calculate_available_collateral_to_liquidate(
        actual_debt, prices[:, debt], 10.0 ** params.decimals[debt], prices[:, collateral],
        10.0 ** params.decimals[collateral], user_collateral, params.liquidation_bonus[collateral],
        params.liquidation_protocol_fee[collateral])
    ok = mask & (code == 0)
    scaled_debt = xp.where(debt_repaid >= user_debt, t.scaled_variable_debt_of[:, user, debt],
                           debt_repaid / t.variable_borrow_index[:, debt])
    t.scaled_variable_debt_of[:, user, debt] -= scaled_debt
    t.scaled_variable_debt[:, debt] -= scaled_debt
    t.available_liquidity[:, debt] += debt_repaid
    update_interest_rates(t, params, _onehot(t, debt, mask))
    touched_collateral = _onehot(t, collateral, mask)
    update_state(t, params, now, touched_collateral)  # _burnCollateralATokens
    index = t.liquidity_index[:, collateral]
    t.available_liquidity[:, collateral] -= to_liquidator
    update_interest_rates(t, params, touched_collateral)
    # Taking it all clears the collateral bit; the contract may leave a wei of rounding dust, kept at 0 here.
    t.scaled_atoken[:, user, collateral] = xp.where(taken_all, 0.0, t.scaled_atoken[:, user, collateral]
                                                    - (to_liquidator + fee) / index)
    t.collateral_enabled[:, user, collateral] = xp.where(taken_all, 0.0, t.collateral_enabled[:, user, collateral])
    t.scaled_atoken_supply[:, collateral] -= to_liquidator / index  # the fee stays as the treasury's aTokens
    _commit(state, t, ok)
    zero = xp.zeros_like(debt_repaid)
    return LiquidationResult(xp.where(ok, debt_repaid, zero), xp.where(ok, to_liquidator, zero),
                             xp.where(ok, fee, zero), _codes(code, mask))


def _check_amount(amount, mask) -> None:
    xp = array_namespace(amount)
    if bool(xp.any(mask & ~(amount >= 0))):
        raise ValueError("Aave amounts must be non-negative numbers of raw token units (inf: all of it)")


def _codes(code, mask):
    xp = array_namespace(code)
    return xp.where(mask, code, 0)
