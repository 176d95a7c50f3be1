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


# --- Morpho Blue (src/libraries/MathLib.sol, SharesMathLib.sol, ConstantsLib.sol, src/mocks/IrmMock.sol) ---

VIRTUAL_SHARES, VIRTUAL_ASSETS = 10**6, 1  # SharesMathLib
MAX_LIQUIDATION_INCENTIVE_FACTOR = 115 * WAD // 100  # ConstantsLib
LIQUIDATION_CURSOR = 3 * WAD // 10  # ConstantsLib


def mul_div_down(x: int, y: int, d: int) -> int:
    """MathLib.mulDivDown."""
    return x * y // d


def mul_div_up(x: int, y: int, d: int) -> int:
    """MathLib.mulDivUp."""
    return (x * y + d - 1) // d


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toSharesDown: with the virtual shares and assets."""
    return mul_div_down(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toSharesUp."""
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsDown."""
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsUp."""
    return mul_div_up(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def w_taylor_compounded(rate: int, seconds: int) -> int:
    """MathLib.wTaylorCompounded: e^(rate x seconds) - 1 to three terms, each rounded down, in WAD."""
    first = rate * seconds
    second = mul_div_down(first, first, 2 * WAD)
    return first + second + mul_div_down(second, first, 3 * WAD)


def irm_mock_rate(supply_assets: int, borrow_assets: int) -> int:
    """IrmMock.borrowRateView: utilization per `365 days`, per second in WAD."""
    return 0 if supply_assets == 0 else mul_div_down(borrow_assets, WAD, supply_assets) // SECONDS_PER_YEAR


def liquidation_incentive_factor(lltv: int) -> int:
    """Morpho.liquidate: min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD / (WAD - LIQUIDATION_CURSOR x (WAD - lltv)))."""
    return min(
        MAX_LIQUIDATION_INCENTIVE_FACTOR,
        mul_div_down(WAD, WAD, WAD - mul_div_down(LIQUIDATION_CURSOR, WAD - lltv, WAD)),
    )
