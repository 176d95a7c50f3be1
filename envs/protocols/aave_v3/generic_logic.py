"""aave-v3-core contracts/protocol/libraries/logic/GenericLogic.sol: an account's collateral, debt,
average LTV and liquidation threshold, and health factor, in the oracle's base currency (USD, 8 decimals).

The contract decides on integers: each balance is ``rayMul(scaled, index)`` and its value in base
currency is floored, the health factor is ``percentMul(collateral, threshold).wadDiv(debt)``. The
comparisons the validation makes with it reduce to integer comparisons of the weighted collateral
and the debt (``weighted_collateral``), which are exact here wherever the base values are (below
2**53 / 20, i.e. accounts under ~$4.5M); the float health factor is for observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from envs.arrays import Array
from envs.protocols import array_namespace
from envs.protocols.aave_v3.math_utils import _two_product, mul_div_floor, percent_mul, ray_mul
from envs.protocols.aave_v3.reserve_logic import normalized_debt, normalized_income
from envs.units import BPS


@dataclass
class AccountData:
    total_collateral_base: Array  # (N,) USD, 8 decimals
    total_debt_base: Array
    avg_ltv: Array  # (N,) bps, floored as the contract does
    avg_liquidation_threshold: Array  # (N,) bps, floored
    health_factor: Array  # (N,) plain number (the contract's wad / 1e18); inf without debt
    weighted_collateral: Array = None  # (N,) percentMul(collateral, threshold): the health factor's numerator


def balance_in_base(amount, prices, unit):
    """GenericLogic._getUserBalanceInBaseCurrency / _getUserDebtInBaseCurrency: floor(amount * price / unit)."""
    return mul_div_floor(amount, prices, unit)


def held_in_base(amount, prices, unit):
    """``balance_in_base`` computed only where ``amount`` isn't zero, 0 where it is (the same value:
    floor(0 * price / unit) is 0), so reading many mostly-empty accounts costs what their balances do."""
    xp = array_namespace(amount)
    held = xp.nonzero(amount)
    out = xp.zeros_like(amount)
    out[held] = balance_in_base(
        amount[held], xp.broadcast_to(prices, amount.shape)[held], xp.broadcast_to(unit, amount.shape)[held]
    )
    return out


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def weighted_average_floor(values, weights, total, skip_empty: bool = False):
    """floor(sum_r values[..., r] * weights[r] / total), 0 where total is 0: the contract's average LTV
    and liquidation threshold (integer division). The products and their sum are carried exactly
    (double-double), so a quotient a hair under an integer floors as on chain. ``skip_empty`` leaves out
    the reserves no account holds (values >= 0: a zero term adds exactly +0 to both parts of the sum)."""
    xp = array_namespace(values)
    hi, lo = xp.zeros_like(total), xp.zeros_like(total)
    for r in range(values.shape[-1]):
        if skip_empty and not bool(xp.any(values[..., r])):
            continue
        p, e = _two_product(values[..., r], weights[r] + 0.0 * total)
        hi, err = _two_sum(hi, p)
        lo = lo + err + e
    safe = xp.where(total > 0, total, 1.0)
    q = xp.floor((hi + lo) / safe)
    qc, qe = _two_product(q, safe)
    rest = (hi - qc) + (lo - qe)
    q = xp.where(rest < 0, q - 1, xp.where(rest >= safe, q + 1, q))
    return xp.where(total > 0, q, 0.0)


def calculate_user_account_data(state, params, prices, account: int, now) -> AccountData:
    """``prices`` (N, R) are oracle prices in base units. Collateral counts the reserves whose
    collateral bit is set and whose liquidation threshold is non-zero."""
    supplied = ray_mul(state.scaled_atoken[:, account, :], normalized_income(state, now))
    debt = ray_mul(state.scaled_variable_debt_of[:, account, :], normalized_debt(state, now))
    return account_data_of(supplied, debt, state.collateral_enabled[:, account, :], params, prices)


def account_data_of(supplied, debt, collateral_enabled, params, prices) -> AccountData:
    """GenericLogic.calculateUserAccountData from balances already read: ``supplied``, ``debt`` and
    ``collateral_enabled`` (..., R), one account's (N, R) or many accounts' (N, A, R) with ``prices``
    broadcast to them; element by element the same arithmetic either way (sums of integers are exact)."""
    xp = array_namespace(prices)
    unit = 10.0**params.decimals
    many = supplied.ndim > 2  # many accounts: most balances are 0
    in_base = held_in_base if many else balance_in_base
    counted = (collateral_enabled > 0) & (params.liquidation_threshold > 0)
    collateral_base = xp.where(counted, in_base(supplied, prices, unit), 0.0)
    debt_base = in_base(debt, prices, unit)
    total_collateral = xp.sum(collateral_base, axis=-1)
    total_debt = xp.sum(debt_base, axis=-1)
    avg_ltv = weighted_average_floor(collateral_base, params.ltv, total_collateral, skip_empty=many)
    avg_lt = weighted_average_floor(collateral_base, params.liquidation_threshold, total_collateral, skip_empty=many)
    weighted = percent_mul(total_collateral, avg_lt)
    hf = xp.where(total_debt > 0, weighted / xp.where(total_debt > 0, total_debt, 1.0), xp.inf)
    return AccountData(total_collateral, total_debt, avg_ltv, avg_lt, hf, weighted)


def _reduced(threshold_bps: int) -> tuple[float, float]:
    g = math.gcd(BPS, int(threshold_bps))
    return BPS / g, threshold_bps / g


def health_factor_below(account: AccountData, threshold_bps: int):
    """healthFactor < threshold, decided on integers as the contract does. With P the weighted
    collateral and D the debt, wadDiv(P, D) < t  <=>  P * 1e4 < t_bps * D for the thresholds used
    (1 and 0.95, D below 1e17 base units); written with the ratio reduced (P < D, 20 P < 19 D) so
    the products stay exact. Without debt the health factor is the maximum: never below."""
    a, b = _reduced(threshold_bps)
    return account.weighted_collateral * a < account.total_debt_base * b


def health_factor_above(account: AccountData, threshold_bps: int):
    """healthFactor > threshold (the borrow check and the close factor's), on integers: P * 1e4 > t * D,
    or no debt at all."""
    a, b = _reduced(threshold_bps)
    return (account.total_debt_base == 0) | (account.weighted_collateral * a > account.total_debt_base * b)
