"""Unit conversions at the edge between the simulator's float64 amounts and a chain's integers."""

from __future__ import annotations

import math

import pytest

from envs.units import ASSETS, USDC, USDC_UNIT, WBTC, WBTC_UNIT, WETH, WETH_UNIT, held_amount


def test_a_float_amount_sends_no_more_than_the_balance_and_all_of_it_at_the_balance():
    held = 22_820_463_515_428_270_417  # WETH wei past 2**53: float64 rounds its last digits
    assert float(held) != held
    assert held_amount(float(held), held) == held  # the wallet read as float64: all of it, not a few wei more or less
    assert held_amount(float(held) * 2, held) == held and held_amount(math.inf, held) == held
    assert held_amount(1e18 + 0.7, held) == 10**18  # less than the balance: rounded down
    assert held_amount(0.0, held) == 0 and held_amount(5.0, 0) == 0


def test_each_asset_scales_its_raw_amounts_by_its_own_decimals():
    assert USDC.raw("1.5") == 1_500_000 and WETH.raw(2) == 2 * 10**18 and WBTC.raw("0.00000001") == 1
    assert (USDC_UNIT, WETH_UNIT, WBTC_UNIT) == (1e6, 1e18, 1e8)
    with pytest.raises(ValueError, match="non-negative"):
        USDC.raw(-1)


def test_the_chains_tokens_carry_the_assets_decimals(market):
    """The tokens deployed on each rung report, from their own bytecode, the decimals the simulator scales by."""
    for symbol, token in market.tokens.items():
        assert token.decimals == token.contract.call("decimals") == ASSETS[symbol].decimals
