"""morpho-blue src/mocks/IrmMock.sol: the test interest rate model, x% utilization = x% APR, as a per-second
borrow rate in WAD (the rate the packaged tests and the simulator's markets use)."""

from __future__ import annotations

from envs.protocols.morpho_blue.math_lib import mul_div_down, utilization
from envs.units import SECONDS_PER_YEAR


def borrow_rate(total_supply_assets, total_borrow_assets):
    """IrmMock.borrowRateView: wDivDown(totalBorrowAssets, totalSupplyAssets) / 365 days (integer
    division), 0 while nothing is supplied."""
    return mul_div_down(utilization(total_supply_assets, total_borrow_assets), 1.0, float(SECONDS_PER_YEAR))
