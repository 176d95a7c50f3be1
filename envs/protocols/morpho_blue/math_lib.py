"""morpho-blue src/libraries/MathLib.sol: WAD products and quotients rounded down or up, and the three-term
Taylor expansion that compounds interest. Arguments are integer-valued float64 arrays (raw units)."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.aave_v3.math_utils import mul_div_floor
from envs.units import WAD_FLOAT


def mul_div_down(x, y, d):
    """MathLib.mulDivDown: (x * y) / d, floored as Solidity's integer division (exact below 2**53)."""
    return mul_div_floor(x, y, d)


def mul_div_up(x, y, d):
    """MathLib.mulDivUp: (x * y + (d - 1)) / d, the quotient rounded up: -floor(-x * y / d)."""
    return -mul_div_floor(-x, y, d)


def w_mul_down(x, y):
    """MathLib.wMulDown: x * y / WAD rounded down."""
    return mul_div_down(x, y, WAD_FLOAT)


def w_div_down(x, y):
    """MathLib.wDivDown: x * WAD / y rounded down."""
    return mul_div_down(x, WAD_FLOAT, y)


def w_div_up(x, y):
    """MathLib.wDivUp: x * WAD / y rounded up."""
    return mul_div_up(x, WAD_FLOAT, y)


def w_taylor_compounded(x, n):
    """MathLib.wTaylorCompounded: e^(x n) - 1 in WAD by its first three terms, each floored, where x is a
    per-second rate (WAD) and n seconds: how Morpho compounds interest over an elapsed time."""
    first_term = x * n
    second_term = mul_div_down(first_term, first_term, 2 * WAD_FLOAT)
    third_term = mul_div_down(second_term, first_term, 3 * WAD_FLOAT)
    return first_term + second_term + third_term


def utilization(total_supply_assets, total_borrow_assets):
    """A market's utilization in WAD as the rate models read it: totalBorrowAssets.wDivDown(totalSupplyAssets),
    0 while nothing is supplied."""
    xp = array_namespace(total_supply_assets)
    supplied = total_supply_assets > 0
    return xp.where(supplied, w_div_down(total_borrow_assets, xp.where(supplied, total_supply_assets, 1.0)), 0.0)
