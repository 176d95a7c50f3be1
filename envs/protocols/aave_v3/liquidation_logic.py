"""aave-v3-core contracts/protocol/libraries/logic/LiquidationLogic.sol: how much debt a liquidator may
repay (the close factor) and how much collateral, bonus included, it receives for it, rounded as the
contract rounds (integer divisions floor, PercentageMath rounds half up)."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.aave_v3.math_utils import percent_div, percent_mul

DEFAULT_LIQUIDATION_CLOSE_FACTOR = 5_000  # bps of the debt, while the health factor is above ...
CLOSE_FACTOR_HF_THRESHOLD = 9_500  # ... 0.95 (in bps); at or below it MAX_LIQUIDATION_CLOSE_FACTOR (100%)
_FLOOR_GUARD = 1e-15  # a float quotient of integers may land a few ulps under the exact integer


def calculate_debt(above_close_factor_threshold, user_debt, debt_to_cover):
    """_calculateDebt: the debt actually repaid, capped by ``userDebt.percentMul(closeFactor)``."""
    xp = array_namespace(user_debt)
    max_debt = xp.where(
        above_close_factor_threshold, percent_mul(user_debt, DEFAULT_LIQUIDATION_CLOSE_FACTOR), user_debt
    )
    return xp.minimum(debt_to_cover, max_debt)


def _floor_div(numerator, denominator):
    xp = array_namespace(numerator)
    return xp.floor(numerator / denominator * (1 + _FLOOR_GUARD))


def calculate_available_collateral_to_liquidate(
    debt_to_cover,
    debt_price,
    debt_unit,
    collateral_price,
    collateral_unit,
    user_collateral,
    bonus_bps,
    protocol_fee_bps,
):
    """_calculateAvailableCollateralToLiquidate: returns (collateral to the liquidator, debt repaid,
    protocol fee in collateral, whether all the collateral is taken). When the account lacks
    collateral for debt plus bonus, all of it is taken and the debt repaid shrinks to match."""
    xp = array_namespace(debt_to_cover)
    base_collateral = _floor_div(debt_price * debt_to_cover * collateral_unit, collateral_price * debt_unit)
    max_collateral = percent_mul(base_collateral, bonus_bps)
    short = max_collateral > user_collateral
    collateral = xp.where(short, user_collateral, max_collateral)
    debt_needed = xp.where(
        short,
        percent_div(
            _floor_div(collateral_price * user_collateral * debt_unit, debt_price * collateral_unit), bonus_bps
        ),
        debt_to_cover,
    )
    bonus = collateral - percent_div(collateral, bonus_bps)
    fee = percent_mul(bonus, protocol_fee_bps)
    return collateral - fee, debt_needed, fee, collateral >= user_collateral
