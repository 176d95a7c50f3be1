"""aave-v3-core contracts/protocol/libraries/logic/ValidationLogic.sol: the checks before each action,
as per-world error codes (Errors.sol numbers; 0 where the action may proceed)."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.aave_v3 import errors
from envs.protocols.aave_v3.generic_logic import AccountData, health_factor_above, health_factor_below
from envs.protocols.aave_v3.math_utils import percent_div
from envs.units import BPS


def _first(xp, checks, shape_like):
    """The first failing check's code per world (checks are (condition, code) in contract order)."""
    code = xp.zeros_like(shape_like, dtype=xp.int64)
    for failed, err in reversed(checks):
        code = xp.where(failed, err, code)
    return code


def validate_supply(amount, total_supplied_after, supply_cap):
    xp = array_namespace(amount)
    return _first(
        xp,
        [
            (~(amount > 0), errors.INVALID_AMOUNT),
            ((supply_cap > 0) & (total_supplied_after > supply_cap), errors.SUPPLY_CAP_EXCEEDED),
        ],
        amount,
    )


def validate_borrow(amount, amount_base, account: AccountData, total_debt_after, borrow_cap, available_liquidity):
    """ValidationLogic.validateBorrow for variable-rate borrowing outside isolation and e-mode: the
    collateral needed is (debt + amount).percentDiv(ltv), rounded as the contract rounds it."""
    xp = array_namespace(amount)
    needed = percent_div(account.total_debt_base + amount_base, account.avg_ltv)
    return _first(
        xp,
        [
            (~(amount > 0), errors.INVALID_AMOUNT),
            ((borrow_cap > 0) & (total_debt_after > borrow_cap), errors.BORROW_CAP_EXCEEDED),
            (account.total_collateral_base == 0, errors.COLLATERAL_BALANCE_IS_ZERO),
            (account.avg_ltv == 0, errors.LTV_VALIDATION_FAILED),
            (~health_factor_above(account, BPS), errors.HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD),
            (needed > account.total_collateral_base, errors.COLLATERAL_CANNOT_COVER_NEW_BORROW),
            (amount > available_liquidity, errors.NOT_ENOUGH_LIQUIDITY),
        ],
        amount,
    )


def validate_hf_after(account: AccountData):
    """validateHFAndLtv after a withdrawal: the health factor must stay at or above 1."""
    xp = array_namespace(account.health_factor)
    return xp.where(health_factor_below(account, BPS), errors.HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD, 0)


def validate_withdraw(amount, user_balance):
    xp = array_namespace(amount)
    return _first(
        xp,
        [(~(amount > 0), errors.INVALID_AMOUNT), (amount > user_balance, errors.NOT_ENOUGH_AVAILABLE_USER_BALANCE)],
        amount,
    )


def validate_liquidation_call(account: AccountData, collateral_enabled, user_debt):
    """``collateral_enabled``: the user's collateral bit for the reserve times its liquidation threshold."""
    xp = array_namespace(user_debt)
    return _first(
        xp,
        [
            (~health_factor_below(account, BPS), errors.HEALTH_FACTOR_NOT_BELOW_THRESHOLD),
            (~(collateral_enabled > 0), errors.COLLATERAL_CANNOT_BE_LIQUIDATED),
            (~(user_debt > 0), errors.SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER),
        ],
        user_debt,
    )
