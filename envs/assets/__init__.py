"""Parameters and price paths shipped with the project (each file names its source and licence): Aave V3 reserves, gas costs, the calibrated flow, ETH/USD hourly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
AAVE_RESERVES_FILE = ASSETS_DIR / "aave_v3_ethereum_reserves_2025-03-19.json"


@dataclass(frozen=True)
class AaveReserveParams:
    """One Aave V3 reserve's risk and rate parameters, in the protocol's own units."""

    symbol: str
    decimals: int
    ltv: int  # bps
    liquidation_threshold: int  # bps
    liquidation_bonus: int  # bps, 10500 = collateral worth 105% of the debt repaid
    reserve_factor: int  # bps
    liquidation_protocol_fee: int  # bps of the bonus
    base_variable_borrow_rate: int  # ray
    variable_rate_slope1: int  # ray
    variable_rate_slope2: int  # ray
    optimal_usage_ratio: int  # ray
    supply_cap: int  # whole tokens, 0 = none
    borrow_cap: int  # whole tokens, 0 = none
    price_usd_8dec: int  # oracle price on the snapshot date


@cache
def aave_reserve_params() -> dict[str, AaveReserveParams]:
    """USDC, WETH and WBTC as configured on Aave V3 Ethereum on 2025-03-19."""
    raw = json.loads(AAVE_RESERVES_FILE.read_text())["reserves"]
    fields = AaveReserveParams.__dataclass_fields__
    return {sym: AaveReserveParams(symbol=sym, **{k: v for k, v in r.items() if k in fields}) for sym, r in raw.items()}
