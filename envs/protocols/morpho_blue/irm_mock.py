"""morpho-blue src/mocks/IrmMock.sol: the test interest rate model, x% utilization = x% APR, as a per-second
borrow rate in WAD (the rate the packaged tests and the simulator's markets use)."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.protocols.morpho_blue.math_lib import mul_div_down, w_div_down
from envs.units import SECONDS_PER_YEAR


def borrow_rate(total_supply_assets, total_borrow_assets):
    """IrmMock.borrowRateView: wDivDown(totalBorrowAssets, totalSupplyAssets) / 365 days (integer
    division), 0 while nothing is supplied."""
    xp = array_namespace(total_supply_assets)
    supplied = total_supply_assets > 0
    utilization = w_div_down(total_borrow_assets, xp.where(supplied, total_supply_assets, 1.0))
    rate = mul_div_down(utilization, 1.0, float(SECONDS_PER_YEAR))
    return xp.where(supplied, rate, 0.0)
