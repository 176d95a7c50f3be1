"""Default-deny guards: a plan is sent only if every check passes; each refusal names its reason.

The guards read what will be sent, not what the planner says it is: every transaction's ``to`` is
looked up in the address book and its calldata decoded against that contract's ABI, and each
argument that decides where money goes (recipient, onBehalfOf, minimums, deadline, value) is
checked; the pool's price is compared with the oracle and with the pool's own TWAP before any trade.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import eth_abi

from envs.contracts.contract import abi_of
from envs.units import FEE_DENOMINATOR

if TYPE_CHECKING:
    from agents.live.planner import Plan, PlannedTx

#: what the LP and the borrower may call, per contract: everything else is refused
ALLOWED = {
    "NonfungiblePositionManager": {
        "mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))",
        "decreaseLiquidity((uint256,uint128,uint256,uint256,uint256))",
        "collect((uint256,address,uint128,uint128))",
        "burn(uint256)",
    },
    "SwapRouter": {"exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"},
    "MintableERC20": {"approve(address,uint256)"},
    "Pool": {
        "supply(address,uint256,address,uint16)",
        "borrow(address,uint256,uint256,uint16,address)",
        "repay(address,uint256,uint256,address)",
        "withdraw(address,uint256,address)",
    },
}
#: where each Aave Pool call names the account it acts for (onBehalfOf, or the withdrawal's recipient)
BENEFICIARY_ARG = {"supply": 2, "borrow": 4, "repay": 3, "withdraw": 2}
VARIABLE_RATE = 2  # Aave V3 DataTypes.InterestRateMode.VARIABLE: the only mode the borrower uses
#: functions that trade at the pool's price: refused while the pool is away from the oracle or its TWAP
PRICED = {"exactInputSingle", "mint", "decreaseLiquidity"}


@dataclass
class GuardConfig:
    max_notional_usd_per_tx: float = 250_000.0
    max_notional_usd_per_day: float = 1_000_000.0
    max_slippage: float = 0.005  # of a swap's simulated output, and of a mint's or burn's simulated amounts
    max_gas_price_gwei: float = 100.0
    max_sends_per_hour: int = 12
    min_health_factor: float = 1.5  # the agent's Aave health factor after the plan, when it has debt
    max_price_deviation: float = 0.02  # of the pool's price from the oracle, and from its own TWAP
    twap_window_s: int = 600  # the TWAP the pool is compared with (pool.observe); 0 turns that check off
    max_deadline_s: int = 600  # a transaction's deadline is at most this far past the latest block
    kill_switch_file: str | None = None  # if this file exists, nothing is sent
    kill_switch_env: str = "DEFIGYM_KILL"  # if this variable is set (non-empty, not 0), nothing is sent
    allowed_contracts: tuple[str, ...] = ("NonfungiblePositionManager", "SwapRouter", "MintableERC20", "Pool")


@dataclass(frozen=True)
class MarketState:
    """What the guards read from the live chain right before a plan may be sent."""

    timestamp: int  # of the latest block
    pool_usd: float  # ETH in USD at the pool's current price (slot0)
    reference_usd: float  # ETH in USD from the oracle
    twap_usd: float | None  # ETH in USD at the pool's TWAP over twap_window_s (None: not checked)
    fee_pips: int  # the pool's fee


def kill_switch(config: GuardConfig) -> str | None:
    if config.kill_switch_file and Path(config.kill_switch_file).exists():
        return f"kill switch: {config.kill_switch_file} exists"
    if os.environ.get(config.kill_switch_env, "") not in ("", "0"):
        return f"kill switch: ${config.kill_switch_env} is set"
    return None


def contracts_of(addresses: dict) -> dict[str, str]:
    """Address (lower case) -> artifact name of every contract a plan may call, from the address book."""
    u3, tokens = addresses["uniswap_v3"], addresses["tokens"]
    out = {
        u3["nonfungible_position_manager"].lower(): "NonfungiblePositionManager",
        u3["swap_router"].lower(): "SwapRouter",
        addresses["aave_v3"]["pool"].lower(): "Pool",
    }
    out.update({t["address"].lower(): "MintableERC20" for t in tokens.values()})
    return out


def decode(addresses: dict, to: str, data: bytes) -> tuple[str, str, tuple]:
    """(contract, function signature, arguments) of calldata sent to ``to``; ValueError if it is unknown."""
    contract = contracts_of(addresses).get(to.lower())
    if contract is None:
        raise ValueError(f"calls {to}, which is not a contract of the market's address book")
    fn = next((f for f in abi_of(contract).functions.values() if f.selector == data[:4]), None)
    if fn is None:
        raise ValueError(f"calldata selector 0x{data[:4].hex()} is no function of {contract} at {to}")
    try:
        return contract, fn.signature, tuple(eth_abi.decode(list(fn.inputs), data[4:]))
    except Exception as err:  # eth_abi raises several decoding errors
        raise ValueError(f"calldata for {contract}.{fn.signature} does not decode ({err.__class__.__name__})") from None


def _same(a, b) -> bool:
    """Decoded ABI values equal, addresses compared without their checksum case."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def _floor(expected: int, slippage: float) -> int:
    return int(expected * (1 - slippage))


def _minimums(name: str, mins: tuple[int, ...], expected: tuple[int, ...], slippage: float) -> list[str]:
    reasons = []
    for i, (low, want) in enumerate(zip(mins, expected)):
        if want > 0 and low <= 0:
            reasons.append(f"{name} has a minimum of 0 for amount {i}, where the simulation gave {want}")
        elif low < _floor(want, slippage):
            reasons.append(
                f"{name}'s minimum {low} for amount {i} is below the simulated {want} less the "
                f"max_slippage of {slippage}"
            )
    return reasons


def _deadline(name: str, deadline: int, market: MarketState, config: GuardConfig) -> list[str]:
    if not market.timestamp < deadline <= market.timestamp + config.max_deadline_s:
        return [
            f"{name}'s deadline {deadline} is not within {config.max_deadline_s} s after the latest block "
            f"({market.timestamp})"
        ]
    return []


def _token_usd(addresses: dict, market: MarketState) -> dict[str, tuple[float, int]]:
    """Address (lower case) -> (USD price, decimals) for the pair's tokens at the reference price."""
    tokens = addresses["tokens"]
    return {
        tokens["USDC"]["address"].lower(): (1.0, tokens["USDC"]["decimals"]),
        tokens["WETH"]["address"].lower(): (market.reference_usd, tokens["WETH"]["decimals"]),
    }


def _arguments(
    step: "PlannedTx",
    contract: str,
    fn: str,
    args: tuple,
    *,
    account: str,
    addresses: dict,
    config: GuardConfig,
    market: MarketState,
) -> list[str]:
    """The function-specific checks on the decoded arguments."""
    name, me = fn.split("(")[0], account.lower()
    usd = _token_usd(addresses, market)
    pair = set(usd)
    reasons: list[str] = []
    if contract == "MintableERC20":
        spenders = {
            addresses["uniswap_v3"]["nonfungible_position_manager"].lower(),
            addresses["uniswap_v3"]["swap_router"].lower(),
            addresses["aave_v3"]["pool"].lower(),
        }
        if args[0].lower() not in spenders:
            reasons.append(
                f"approve to {args[0]} is not allowlisted (only the router, the position manager and the Aave pool)"
            )
    elif name == "exactInputSingle":
        token_in, token_out, fee, recipient, deadline, amount_in, min_out, _limit = args[0]
        if recipient.lower() != me:
            reasons.append(f"exactInputSingle pays {recipient}, not this account {account}")
        if {token_in.lower(), token_out.lower()} != pair or fee != market.fee_pips:
            reasons.append(
                f"exactInputSingle trades {token_in}->{token_out} at fee {fee}, not the configured "
                f"USDC/WETH pool of fee {market.fee_pips}"
            )
        reasons += _deadline(name, deadline, market, config)
        reasons += _minimums(name, (min_out,), step.expected[:1] or (1,), config.max_slippage)
        if token_in.lower() in usd and token_out.lower() in usd:
            (p_in, d_in), (p_out, d_out) = usd[token_in.lower()], usd[token_out.lower()]
            paid, floor = amount_in / 10**d_in * p_in, min_out / 10**d_out * p_out
            worst = 1 - config.max_price_deviation - fee / FEE_DENOMINATOR
            if floor < paid * worst:
                reasons.append(
                    f"exactInputSingle pays ${paid:,.2f} for a minimum worth ${floor:,.2f} at the oracle "
                    f"price: below {worst:.2%} of its value (max_price_deviation and the pool fee)"
                )
    elif name == "mint":
        token0, token1, fee, _lo, _hi, _d0, _d1, min0, min1, recipient, deadline = args[0]
        if recipient.lower() != me:
            reasons.append(f"mint gives the position to {recipient}, not this account {account}")
        if {token0.lower(), token1.lower()} != pair or fee != market.fee_pips:
            reasons.append(f"mint opens a position in {token0}/{token1} fee {fee}, not the configured pool")
        reasons += _deadline(name, deadline, market, config)
        reasons += _minimums(name, (min0, min1), step.expected or (1, 1), config.max_slippage)
    elif name == "decreaseLiquidity":
        _token_id, _liquidity, min0, min1, deadline = args[0]
        reasons += _deadline(name, deadline, market, config)
        reasons += _minimums(name, (min0, min1), step.expected or (1, 1), config.max_slippage)
    elif name == "collect":
        if args[0][1].lower() != me:
            reasons.append(f"collect pays {args[0][1]}, not this account {account}")
    elif contract == "Pool":
        book = {t["address"].lower() for t in addresses["tokens"].values()}
        if args[0].lower() not in book:
            reasons.append(f"{name} of {args[0]}, which is not a token of the market")
        if str(args[BENEFICIARY_ARG[name]]).lower() != me:
            reasons.append(f"{name} acts for {args[BENEFICIARY_ARG[name]]}, not this account {account}")
        if name in ("borrow", "repay") and args[2] != VARIABLE_RATE:
            reasons.append(f"{name} uses interest rate mode {args[2]}, not variable ({VARIABLE_RATE})")
    return reasons


def _decoded_notional(contract: str, fn: str, args: tuple, addresses: dict, market: MarketState) -> float:
    """A lower bound of the USD a transaction moves, from its own calldata."""
    usd = _token_usd(addresses, market)

    def value(token: str, raw: int) -> float:
        price, decimals = usd.get(token.lower(), (0.0, 18))
        return raw / 10**decimals * price

    if fn.startswith("exactInputSingle("):
        return value(args[0][0], args[0][5])
    if fn.startswith("mint("):
        return value(args[0][0], args[0][7]) + value(args[0][1], args[0][8])
    if contract == "Pool" and fn in ALLOWED["Pool"]:
        return value(args[0], args[1]) if args[1] < 2**255 else 0.0  # type(uint256).max: "all", valued by the plan
    return 0.0


def inspect(
    step: "PlannedTx", *, account: str, addresses: dict, config: GuardConfig, market: MarketState
) -> tuple[list[str], str | None, float]:
    """Reasons to refuse one transaction, the function its calldata calls, and the USD it moves."""
    tx = step.tx
    try:
        contract, fn, args = decode(addresses, tx.to, tx.data)
    except ValueError as err:
        return [f"{step.contract}.{step.function}: {err}"], None, step.notional_usd
    name = fn.split("(")[0]
    reasons = []
    if tx.sender.lower() != account.lower():
        reasons.append(f"{name} is sent from {tx.sender}, not this account {account}")
    if contract not in config.allowed_contracts or fn not in ALLOWED.get(contract, ()):
        reasons.append(f"{contract}.{fn} at {tx.to} is not allowlisted")
    if (step.contract, step.function) != (contract, fn):
        reasons.append(f"a transaction labelled {step.contract}.{step.function} calls {contract}.{fn}")
    if not _same(args, step.args):
        reasons.append(f"{name}'s calldata carries other arguments than the plan lists")
    if step.simulated != tx.data:
        reasons.append(f"{name}'s calldata is not what the planner simulated")
    if tx.value:
        reasons.append(f"{name} attaches {tx.value} wei of ETH; no allowed call takes ETH")
    if not reasons:
        reasons += _arguments(
            step, contract, fn, args, account=account, addresses=addresses, config=config, market=market
        )
    notional = max(step.notional_usd, _decoded_notional(contract, fn, args, addresses, market))
    return reasons, name, notional


def _market_reasons(market: MarketState, config: GuardConfig) -> list[str]:
    """The pool's price against the oracle and against its own TWAP."""
    reasons = []
    deviation = abs(market.pool_usd / market.reference_usd - 1) if market.reference_usd > 0 else math.inf
    if not deviation <= config.max_price_deviation:
        reasons.append(
            f"the pool's price ${market.pool_usd:,.2f} is {deviation:.2%} from the oracle's "
            f"${market.reference_usd:,.2f} (max_price_deviation {config.max_price_deviation:.2%}): "
            f"manipulated, sandwiched or stale; not trading"
        )
    if market.twap_usd is not None:
        drift = abs(market.pool_usd / market.twap_usd - 1) if market.twap_usd > 0 else math.inf
        if not drift <= config.max_price_deviation:
            reasons.append(
                f"the pool's price ${market.pool_usd:,.2f} is {drift:.2%} from its {config.twap_window_s} s "
                f"TWAP ${market.twap_usd:,.2f} (max_price_deviation {config.max_price_deviation:.2%})"
            )
    return reasons


def check(
    plan: "Plan",
    config: GuardConfig,
    *,
    chain_id: int,
    expected_chain_id: int,
    gas_price_gwei: float,
    notional_today_usd: float,
    sends_last_hour: int,
    addresses: dict,
    account: str,
    market: MarketState,
) -> list[str]:
    """Every reason to refuse the plan (empty: it may be sent)."""
    reasons = []
    if chain_id != expected_chain_id:
        reasons.append(f"chain id {chain_id} is not the configured {expected_chain_id}")
    if (reason := kill_switch(config)) is not None:
        reasons.append(reason)
    if plan.error:
        reasons.append(plan.error)
    health = plan.effects.get("health_factor")
    if health is not None and not health >= config.min_health_factor:
        reasons.append(
            f"Aave health factor after the plan would be {health:.3f}, below the minimum {config.min_health_factor}"
        )
    if not gas_price_gwei <= config.max_gas_price_gwei:
        reasons.append(f"gas price {gas_price_gwei:.2f} gwei is above the cap of {config.max_gas_price_gwei} gwei")
    if sends_last_hour >= config.max_sends_per_hour:
        reasons.append(f"rate limit: {sends_last_hour} sends in the last hour (max {config.max_sends_per_hour})")
    total, priced = 0.0, False
    for step in plan.actions:
        found, name, notional = inspect(step, account=account, addresses=addresses, config=config, market=market)
        reasons += found
        priced |= name in PRICED
        if not notional <= config.max_notional_usd_per_tx:
            reasons.append(
                f"{name or step.function.split('(')[0]} moves ${notional:,.0f}, above the "
                f"${config.max_notional_usd_per_tx:,.0f} per-transaction cap"
            )
        total += notional
    if priced:
        reasons += _market_reasons(market, config)
    if not notional_today_usd + total <= config.max_notional_usd_per_day:
        reasons.append(
            f"daily notional would reach ${notional_today_usd + total:,.0f}, above the "
            f"${config.max_notional_usd_per_day:,.0f} cap"
        )
    return reasons
