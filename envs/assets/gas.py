"""Gas each agent action costs, measured on the real contracts, priced in ETH and USD.

The table is ``envs/assets/gas_costs.json``, written by ``python -m envs.contracts measure-gas`` from
transaction receipts on anvil; a test re-measures it, so it always matches the bytecode.
"""

from __future__ import annotations

import json
from functools import cache

from envs.assets import ASSETS_DIR

GAS_FILE = ASSETS_DIR / "gas_costs.json"
GWEI = 1e-9  # ETH


@cache
def gas_units() -> dict[str, int]:
    return json.loads(GAS_FILE.read_text())["gas"]


def action_units(*actions: str) -> int:
    """Gas the ``actions`` use together, from the measured table."""
    units = gas_units()
    unknown = [a for a in actions if a not in units]
    if unknown:
        raise KeyError(f"no gas measured for {unknown}; known actions: {sorted(units)}")
    return sum(units[a] for a in actions)


def units_usd(units, gas_price_gwei: float, eth_usd):
    """Gas ``units`` (scalar or array) in USD at ``gas_price_gwei`` and the ETH price (scalar or array)."""
    return units * gas_price_gwei * GWEI * eth_usd


def gas_cost_eth(action: str, gas_price_gwei: float):
    return action_units(action) * gas_price_gwei * GWEI


def gas_cost_usd(action: str, gas_price_gwei: float, eth_usd):
    """Cost of ``action`` in USD at ``gas_price_gwei`` and the ETH price (scalar or array)."""
    return gas_cost_eth(action, gas_price_gwei) * eth_usd
