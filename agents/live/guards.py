"""Default-deny guards: a plan is sent only if every check passes; each refusal names its reason."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agents.live.planner import Plan

#: what the LP and the borrower may call, per contract: everything else is refused
ALLOWED = {"NonfungiblePositionManager": {"mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))",
                                          "decreaseLiquidity((uint256,uint128,uint256,uint256,uint256))",
                                          "collect((uint256,address,uint128,uint128))", "burn(uint256)"},
           "SwapRouter": {"exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"},
           "MintableERC20": {"approve(address,uint256)"},
           "Pool": {"supply(address,uint256,address,uint16)", "borrow(address,uint256,uint256,uint16,address)",
                    "repay(address,uint256,uint256,address)", "withdraw(address,uint256,address)"}}
#: where each Aave Pool call names the account it acts for (onBehalfOf, or the withdrawal's recipient)
BENEFICIARY_ARG = {"supply": 2, "borrow": 4, "repay": 3, "withdraw": 2}


@dataclass
class GuardConfig:
    max_notional_usd_per_tx: float = 250_000.0
    max_notional_usd_per_day: float = 1_000_000.0
    max_slippage: float = 0.005  # of a swap's quote, and of a mint's or burn's simulated amounts
    max_gas_price_gwei: float = 100.0
    max_sends_per_hour: int = 12
    min_health_factor: float = 1.5  # the agent's Aave health factor after the plan, when it has debt
    kill_switch_file: str | None = None  # if this file exists, nothing is sent
    kill_switch_env: str = "DEFIGYM_KILL"  # if this variable is set (non-empty, not 0), nothing is sent
    allowed_contracts: tuple[str, ...] = ("NonfungiblePositionManager", "SwapRouter", "MintableERC20", "Pool")


def kill_switch(config: GuardConfig) -> str | None:
    if config.kill_switch_file and Path(config.kill_switch_file).exists():
        return f"kill switch: {config.kill_switch_file} exists"
    if os.environ.get(config.kill_switch_env, "") not in ("", "0"):
        return f"kill switch: ${config.kill_switch_env} is set"
    return None


def check(plan: Plan, config: GuardConfig, *, chain_id: int, expected_chain_id: int, gas_price_gwei: float,
          notional_today_usd: float, sends_last_hour: int, addresses: dict, account: str | None = None) -> list[str]:
    """Every reason to refuse the plan (empty: it may be sent)."""
    reasons = []
    if chain_id != expected_chain_id:
        reasons.append(f"chain id {chain_id} is not the configured {expected_chain_id}")
    if (reason := kill_switch(config)) is not None:
        reasons.append(reason)
    if plan.error:
        reasons.append(plan.error)
    health = plan.effects.get("health_factor")
    if health is not None and health < config.min_health_factor:
        reasons.append(f"Aave health factor after the plan would be {health:.3f}, below the minimum "
                       f"{config.min_health_factor}")
    if gas_price_gwei > config.max_gas_price_gwei:
        reasons.append(f"gas price {gas_price_gwei:.2f} gwei is above the cap of {config.max_gas_price_gwei} gwei")
    if sends_last_hour >= config.max_sends_per_hour:
        reasons.append(f"rate limit: {sends_last_hour} sends in the last hour (max {config.max_sends_per_hour})")
    spenders = {addresses["uniswap_v3"]["nonfungible_position_manager"].lower(),
                addresses["uniswap_v3"]["swap_router"].lower(), addresses["aave_v3"]["pool"].lower()}
    total = 0.0
    for step in plan.actions:
        if step.contract not in config.allowed_contracts or step.function not in ALLOWED.get(step.contract, ()):
            reasons.append(f"{step.contract}.{step.function} at {step.tx.to} is not allowlisted")
        if step.function.startswith("approve(") and step.args[0].lower() not in spenders:
            reasons.append(f"approve to {step.args[0]} is not allowlisted (only the router, the position manager "
                           f"and the Aave pool)")
        beneficiary = BENEFICIARY_ARG.get(step.function.split("(")[0]) if step.contract == "Pool" else None
        if beneficiary is not None and account and str(step.args[beneficiary]).lower() != account.lower():
            reasons.append(f"{step.function.split('(')[0]} acts for {step.args[beneficiary]}, not this account {account}")
        if step.notional_usd > config.max_notional_usd_per_tx:
            reasons.append(f"{step.function.split('(')[0]} moves ${step.notional_usd:,.0f}, above the "
                           f"${config.max_notional_usd_per_tx:,.0f} per-transaction cap")
        total += step.notional_usd
    if notional_today_usd + total > config.max_notional_usd_per_day:
        reasons.append(f"daily notional would reach ${notional_today_usd + total:,.0f}, above the "
                       f"${config.max_notional_usd_per_day:,.0f} cap")
    return reasons
