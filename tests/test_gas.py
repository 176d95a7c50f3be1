"""The gas table the simulator charges is what the real contracts use."""
from envs.chain.gas_meter import measure_gas
from envs.gas import gas_cost_usd, gas_units


def test_recorded_gas_matches_the_bytecode_measured_now():
    assert measure_gas() == gas_units()


def test_gas_cost_is_units_times_price_in_eth_times_eth_usd():
    assert gas_cost_usd("v3_swap", 20.0, 2000.0) == gas_units()["v3_swap"] * 20e-9 * 2000.0
