"""Unit conversions at the edge between the simulator's float64 amounts and a chain's integers."""

from __future__ import annotations

import math

from envs.units import held_amount


def test_a_float_amount_sends_no_more_than_the_balance_and_all_of_it_at_the_balance():
    held = 22_820_463_515_428_270_417  # WETH wei past 2**53: float64 rounds its last digits
    assert float(held) != held
    assert held_amount(float(held), held) == held  # the wallet read as float64: all of it, not a few wei more or less
    assert held_amount(float(held) * 2, held) == held and held_amount(math.inf, held) == held
    assert held_amount(1e18 + 0.7, held) == 10**18  # less than the balance: rounded down
    assert held_amount(0.0, held) == 0 and held_amount(5.0, 0) == 0
