"""aave-v3-core contracts/protocol/libraries/logic/LiquidationLogic.sol: how much debt a liquidator may
repay (the close factor) and how much collateral, bonus included, it receives for it."""
from __future__ import annotations

from array_api_compat import array_namespace

BPS = 10_000
DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5  # of the debt, while the health factor is above ...
CLOSE_FACTOR_HF_THRESHOLD = 0.95  # ... this; below it MAX_LIQUIDATION_CLOSE_FACTOR (100%) applies


def calculate_debt(health_factor, user_debt, debt_to_cover):
    """_calculateDebt: the debt actually repaid, capped by the close factor."""
    xp = array_namespace(user_debt)
    close_factor = xp.where(health_factor > CLOSE_FACTOR_HF_THRESHOLD, DEFAULT_LIQUIDATION_CLOSE_FACTOR, 1.0)
    return xp.minimum(debt_to_cover, user_debt * close_factor)


def calculate_available_collateral_to_liquidate(debt_to_cover, debt_price, debt_unit, collateral_price,
                                                collateral_unit, user_collateral, bonus_bps, protocol_fee_bps):
    """_calculateAvailableCollateralToLiquidate: returns (collateral to the liquidator, debt repaid,
    protocol fee in collateral, whether all the collateral is taken). When the account lacks
    collateral for debt plus bonus, all of it is taken and the debt repaid shrinks to match."""
    xp = array_namespace(debt_to_cover)
    base_collateral = debt_price * debt_to_cover * collateral_unit / (collateral_price * debt_unit)
    max_collateral = base_collateral * bonus_bps / BPS
    short = max_collateral > user_collateral
    collateral = xp.where(short, user_collateral, max_collateral)
    debt_needed = xp.where(short, collateral_price * user_collateral * debt_unit
                           / (debt_price * collateral_unit) * BPS / bonus_bps, debt_to_cover)
    bonus = collateral - collateral * BPS / bonus_bps
    fee = bonus * protocol_fee_bps / BPS
    return collateral - fee, debt_needed, fee, short
