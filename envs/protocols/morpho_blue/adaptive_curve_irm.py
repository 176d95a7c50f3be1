"""Morpho's AdaptiveCurveIrm (v1), batched over a leading world axis: the interest rate model Morpho Blue's
mainnet markets use (morpho-org/morpho-blue-irm, src/adaptive-curve-irm/AdaptiveCurveIrm.sol, its
libraries ConstantsLib.sol and ExpLib.sol; the same model as envs/contracts/solidity/AdaptiveCurveIrm.sol).

The borrow rate lies on a curve through the market's *rate at target*: a quarter of it at 0% utilization, it
at the 90% target, four times it at 100%. The rate at target itself moves as exp(speed * t), the speed
proportional to the normalized distance from the target, so a market above target gets dearer over time and
one below cheaper. Amounts and rates are integer-valued float64 (per-second rates in WAD); the contract's
signed divisions round toward zero, restated with trunc (exact while the products stay below 2**53, within a
few float64 ulps beyond).
"""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.aave_v3.math_utils import mul_div_floor
from envs.protocols.morpho_blue.math_lib import utilization
from envs.units import SECONDS_PER_YEAR, WAD, WAD_FLOAT

# ConstantsLib.sol: per-second rates in WAD, each an integer division by `365 days` as Solidity computes it
CURVE_STEEPNESS = 4 * WAD
ADJUSTMENT_SPEED = 50 * WAD // SECONDS_PER_YEAR
TARGET_UTILIZATION = 9 * WAD // 10
INITIAL_RATE_AT_TARGET = 4 * WAD // 100 // SECONDS_PER_YEAR
MIN_RATE_AT_TARGET = WAD // 1000 // SECONDS_PER_YEAR
MAX_RATE_AT_TARGET = 2 * WAD // SECONDS_PER_YEAR

# ExpLib.sol
LN_2_INT = 693_147_180_559_945_309  # ln 2 in WAD
LN_WEI_INT = -41_446_531_673_892_822_312  # ln(1e-18) in WAD: below it e^x rounds to 0
WEXP_UPPER_BOUND = 93_859_467_695_000_404_319  # at and above it e^x is capped at WEXP_UPPER_VALUE
WEXP_UPPER_VALUE = 57_716_089_161_558_943_949_701_069_502_944_508_345_128_422_502_756_744_429_568


def mul_div_to_zero(x, y, d):
    """(x * y) / d with Solidity's signed division (toward zero), d > 0: the sign times the floored quotient of
    the magnitudes (MathLib's error-free floor, exact below 2**53)."""
    xp = array_namespace(x)
    magnitude = mul_div_floor(abs(x), abs(y), d)
    return xp.where((x < 0) != (y < 0), -magnitude, magnitude)


def w_mul_to_zero(x, y):
    """wMulToZero: x * y / WAD rounded toward zero."""
    return mul_div_to_zero(x, y, WAD_FLOAT)


def w_div_to_zero(x, y):
    """wDivToZero: x * WAD / y rounded toward zero (y > 0 wherever it is used here)."""
    return mul_div_to_zero(x, WAD_FLOAT, y)


def w_exp(x):
    """ExpLib.wExp: e^x in signed WAD. x = q ln2 + r with q the nearest integer (ties away from zero, by
    truncating x +- ln2/2), e^r ~ 1 + r + r^2/2 (the second-order Taylor term, at most ~1.4% low at |r| = ln2/2),
    then shifted by q bits (a right shift floors); 0 below ln(1e-18), capped at WEXP_UPPER_BOUND."""
    xp = array_namespace(x)
    half_ln2 = float(LN_2_INT // 2)  # Solidity's LN_2_INT / 2 (positive: toward zero is floor)
    ln2 = float(LN_2_INT)
    q = xp.trunc(xp.where(x < 0, x - half_ln2, x + half_ln2) / ln2)
    r = x - q * ln2
    exp_r = WAD_FLOAT + r + xp.trunc(xp.trunc(r * r / WAD_FLOAT) / 2.0)
    scale = 2.0 ** xp.clip(q, -256.0, 256.0)  # the bounds below replace anything the clip changes
    shifted = xp.where(q >= 0, exp_r * scale, xp.floor(exp_r * scale))
    shifted = xp.where(x < float(LN_WEI_INT), 0.0, shifted)
    return xp.where(x >= float(WEXP_UPPER_BOUND), float(WEXP_UPPER_VALUE), shifted)


def curve(rate_at_target, err):
    """AdaptiveCurveIrm._curve: (coeff * err + 1) * rateAtTarget, coeff = 1 - 1/CURVE_STEEPNESS below target and
    CURVE_STEEPNESS - 1 above, each product rounded toward zero: rateAtTarget/4 at err = -1, 4x at err = 1."""
    xp = array_namespace(err)
    below = WAD_FLOAT - float(WAD * WAD // CURVE_STEEPNESS)  # WAD - WAD.wDivToZero(CURVE_STEEPNESS)
    above = float(CURVE_STEEPNESS - WAD)
    scaled = xp.where(err < 0, w_mul_to_zero(err, below), w_mul_to_zero(err, above))  # coeff.wMulToZero(err)
    return w_mul_to_zero(scaled + WAD_FLOAT, rate_at_target)


def new_rate_at_target(start, linear_adaptation):
    """AdaptiveCurveIrm._newRateAtTarget: start * e^linearAdaptation (wMulToZero), bounded to
    [MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET]."""
    xp = array_namespace(start)
    rate = w_mul_to_zero(start, w_exp(linear_adaptation))
    return xp.clip(rate, float(MIN_RATE_AT_TARGET), float(MAX_RATE_AT_TARGET))


def utilization_error(total_supply_assets, total_borrow_assets):
    """AdaptiveCurveIrm._borrowRate's err in WAD, in [-1, 1]: (utilization - target) / (1 - target) above target,
    / target below, rounded toward zero; utilization = borrow.wDivDown(supply), 0 while nothing is supplied."""
    xp = array_namespace(total_supply_assets)
    used, target = utilization(total_supply_assets, total_borrow_assets), float(TARGET_UTILIZATION)
    above, below = w_div_to_zero(used - target, WAD_FLOAT - target), w_div_to_zero(used - target, target)
    return xp.where(used > target, above, below)


def borrow_rate(total_supply_assets, total_borrow_assets, rate_at_target, elapsed):
    """AdaptiveCurveIrm._borrowRate in every world: (the average borrow rate over the ``elapsed`` seconds since
    the market's last update, per second in WAD; the rate at target at their end, which borrowRate stores).

    ``rate_at_target`` 0 (never set) starts at INITIAL_RATE_AT_TARGET without adapting; otherwise it adapts
    as exp(ADJUSTMENT_SPEED * err * elapsed), and the rate returned is the curve at the trapezoidal average
    (start + end + 2 mid) / 4 of the rate at target over the elapsed time."""
    xp = array_namespace(total_supply_assets)
    err = utilization_error(total_supply_assets, total_borrow_assets)
    speed = w_mul_to_zero(err, float(ADJUSTMENT_SPEED))  # ADJUSTMENT_SPEED.wMulToZero(err)
    linear_adaptation = speed * elapsed
    start = rate_at_target
    end = new_rate_at_target(start, linear_adaptation)
    mid = new_rate_at_target(start, xp.trunc(linear_adaptation / 2.0))
    avg = xp.trunc((start + end + 2.0 * mid) / 4.0)
    moved = linear_adaptation != 0
    avg, end = xp.where(moved, avg, start), xp.where(moved, end, start)
    first = start == 0
    initial = float(INITIAL_RATE_AT_TARGET)
    avg, end = xp.where(first, initial, avg), xp.where(first, initial, end)
    return curve(avg, err), end


def borrow_rate_view(total_supply_assets, total_borrow_assets, rate_at_target, elapsed):
    """AdaptiveCurveIrm.borrowRateView: the average borrow rate of :func:`borrow_rate`, nothing stored."""
    return borrow_rate(total_supply_assets, total_borrow_assets, rate_at_target, elapsed)[0]
