"""The gas table the simulator charges is what the real contracts use."""

import pytest

from envs.assets.gas import gas_cost_usd, gas_units
from envs.contracts.gas_meter import measure_gas


def test_recorded_gas_matches_the_bytecode_measured_now():
    assert measure_gas() == gas_units()  # receipts on a fresh anvil


def test_the_table_counts_what_a_node_charges_a_transaction():
    """Every action pays at least the intrinsic 21,000 gas of a transaction, and a swap through
    SwapRouter costs what mainnet users see (100k-200k), not an in-process EVM's lower figure."""
    units = gas_units()
    assert min(units.values()) > 21_000 and 100_000 < units["v3_swap"] < 200_000


def test_gas_cost_is_units_times_price_in_eth_times_eth_usd():
    assert gas_cost_usd("v3_swap", 20.0, 2000.0) == pytest.approx(gas_units()["v3_swap"] * 20e-9 * 2000.0, rel=1e-12)
