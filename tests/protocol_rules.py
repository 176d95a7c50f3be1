"""The protocols' own formulas, written out independently to check the contracts against.

Each function cites the Solidity it restates. Tests compare chain results to these; nothing
here is imported by the project itself.
"""

RAY = 10**27
HALF_RAY = RAY // 2
WAD = 10**18
SECONDS_PER_YEAR = 365 * 24 * 3600


def v2_get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut: 0.3% fee on input, rounded down."""
    amount_in_with_fee = amount_in * 997
    return amount_in_with_fee * reserve_out // (reserve_in * 1000 + amount_in_with_fee)


def ray_mul(a: int, b: int) -> int:
    """WadRayMath.rayMul: half-up rounding."""
    return (a * b + HALF_RAY) // RAY


def percent_mul(value: int, bps: int) -> int:
    """PercentageMath.percentMul, half-up."""
    return (value * bps + 5_000) // 10_000


def percent_div(value: int, bps: int) -> int:
    """PercentageMath.percentDiv, half-up."""
    return (value * 10_000 + bps // 2) // bps


def wad_div(a: int, b: int) -> int:
    return (a * WAD + b // 2) // b


def compounded_interest(rate_ray: int, seconds: int) -> int:
    """MathUtils.calculateCompoundedInterest: binomial expansion to the third term."""
    if seconds == 0:
        return RAY
    exp_minus_one, exp_minus_two = seconds - 1, max(seconds - 2, 0)
    base_power_two = ray_mul(rate_ray, rate_ray) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate_ray) // SECONDS_PER_YEAR
    second = seconds * exp_minus_one * base_power_two // 2
    third = seconds * exp_minus_one * exp_minus_two * base_power_three // 6
    return RAY + rate_ray * seconds // SECONDS_PER_YEAR + second + third


def health_factor(collateral_base: int, liquidation_threshold_bps: int, debt_base: int) -> int:
    """GenericLogic.calculateUserAccountData: (collateral x avg threshold) / debt, in wad."""
    return wad_div(percent_mul(collateral_base, liquidation_threshold_bps), debt_base)


def liquidation_collateral(
    debt_to_cover: int,
    debt_price: int,
    debt_decimals: int,
    collateral_price: int,
    collateral_decimals: int,
    bonus_bps: int,
    protocol_fee_bps: int,
) -> tuple[int, int]:
    """LiquidationLogic._calculateAvailableCollateralToLiquidate (collateral not capped):
    returns (collateral to the liquidator, protocol fee), both in collateral units."""
    base_collateral = debt_price * debt_to_cover * 10**collateral_decimals // (collateral_price * 10**debt_decimals)
    max_collateral = percent_mul(base_collateral, bonus_bps)
    bonus = max_collateral - percent_div(max_collateral, bonus_bps)
    fee = percent_mul(bonus, protocol_fee_bps)
    return max_collateral - fee, fee
