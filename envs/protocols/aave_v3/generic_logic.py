"""aave-v3-core contracts/protocol/libraries/logic/GenericLogic.sol: an account's collateral, debt,
average LTV and liquidation threshold, and health factor, in the oracle's base currency (USD, 8 decimals)."""
from __future__ import annotations

from dataclasses import dataclass

from array_api_compat import array_namespace

from envs.protocols.aave_v3.reserve_logic import normalized_debt, normalized_income

BPS = 10_000


@dataclass
class AccountData:
    total_collateral_base: object  # (N,) USD, 8 decimals
    total_debt_base: object
    avg_ltv: object  # (N,) bps, floored as the contract does
    avg_liquidation_threshold: object  # (N,) bps, floored
    health_factor: object  # (N,) plain number (the contract's wad / 1e18); inf without debt


def calculate_user_account_data(state, params, prices, account: int, now) -> AccountData:
    """``prices`` (N, R) are oracle prices in base units. Collateral counts the reserves whose
    collateral bit is set and whose liquidation threshold is non-zero."""
    xp = array_namespace(prices)
    unit = 10.0 ** params.decimals
    supplied = state.scaled_atoken[:, account, :] * normalized_income(state, now)
    debt = state.scaled_variable_debt_of[:, account, :] * normalized_debt(state, now)
    collateral_base = xp.floor(supplied * prices / unit) * state.collateral_enabled[:, account, :] \
        * (params.liquidation_threshold > 0)
    debt_base = xp.floor(debt * prices / unit)
    total_collateral = xp.sum(collateral_base, axis=1)
    total_debt = xp.sum(debt_base, axis=1)
    safe = xp.where(total_collateral > 0, total_collateral, 1.0)
    # The contract floors exact integer quotients; nudge up by 1e-12 so a float 7799.999... floors to 7800.
    avg_ltv = xp.floor(xp.sum(collateral_base * params.ltv, axis=1) / safe * (1 + 1e-12))
    avg_lt = xp.floor(xp.sum(collateral_base * params.liquidation_threshold, axis=1) / safe * (1 + 1e-12))
    hf = xp.where(total_debt > 0, total_collateral * avg_lt / BPS / xp.where(total_debt > 0, total_debt, 1.0), xp.inf)
    return AccountData(total_collateral, total_debt, avg_ltv, avg_lt, hf)
