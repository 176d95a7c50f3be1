"""Check every live.* setting before anything connects or signs: a guard set to NaN, a negative cap or
a slippage of 100% would switch a guard off silently (every comparison with NaN is false)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from agents.live.secrets import refuse_keys_in_config
from envs.units import FEE_TIERS

if TYPE_CHECKING:
    from agents.live.adapter import LiveConfig

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SLIPPAGE = 0.5  # beyond this a "minimum" protects nothing


class LiveConfigError(ValueError):
    """A live.* setting is out of its range; the message names the key and the fix."""


def _number(
    problems: list[str],
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    what: str = "",
) -> None:
    """Append a problem unless ``value`` is a finite number (an integer if asked) within the bounds."""
    kind = "an integer" if integer else "a finite number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    rule = (
        f"live.{key} must be {kind}" + (f" {' and '.join(bounds)}" if bounds else "") + (f" ({what})" if what else "")
    )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        problems.append(f"{rule}; got {type(value).__name__}")
        return
    if (
        not math.isfinite(value)
        or (low is not None and (value <= low if low_open else value < low))
        or (high is not None and (value >= high if high_open else value > high))
    ):
        problems.append(f"{rule}; got {value!r}")


def _guards(problems: list[str], g) -> None:
    _number(
        problems,
        "guards.max_notional_usd_per_tx",
        g.max_notional_usd_per_tx,
        low=0,
        what="USD a single transaction may move",
    )
    _number(
        problems,
        "guards.max_notional_usd_per_day",
        g.max_notional_usd_per_day,
        low=0,
        what="USD all transactions of 24 hours may move",
    )
    _number(
        problems,
        "guards.max_slippage",
        g.max_slippage,
        low=0,
        high=MAX_SLIPPAGE,
        what="a fraction of the simulated amounts, e.g. 0.005",
    )
    _number(problems, "guards.max_gas_price_gwei", g.max_gas_price_gwei, low=0, what="0 blocks every send")
    _number(problems, "guards.max_sends_per_hour", g.max_sends_per_hour, low=0, integer=True)
    _number(
        problems,
        "guards.min_health_factor",
        g.min_health_factor,
        low=1.0,
        what="an Aave account below 1 can be liquidated",
    )
    _number(
        problems,
        "guards.max_price_deviation",
        g.max_price_deviation,
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        what="of the pool's price from the oracle and from its TWAP, e.g. 0.02",
    )
    _number(
        problems,
        "guards.max_deadline_s",
        g.max_deadline_s,
        low=0,
        low_open=True,
        integer=True,
        what="seconds a transaction stays valid",
    )
    _number(problems, "guards.twap_window_s", g.twap_window_s, low=0, integer=True, what="0 turns the TWAP check off")
    if not g.allowed_contracts:
        problems.append("live.guards.allowed_contracts is empty: nothing could ever be sent")


def validate(cfg: "LiveConfig") -> None:
    """Raise LiveConfigError naming every bad live.* key (and SecretInConfigError for a key-like value)."""
    from dataclasses import asdict

    refuse_keys_in_config(asdict(cfg))
    problems: list[str] = []
    if not cfg.rpc_urls:
        problems.append("live.rpc_urls is empty: give at least one node URL, e.g. [http://127.0.0.1:8545]")
    for url in cfg.rpc_urls:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(f"live.rpc_urls: {url!r} must start with http:// or https://")
    _number(problems, "chain_id", cfg.chain_id, low=1, integer=True)
    if cfg.fee_pips not in FEE_TIERS:
        problems.append(f"live.fee_pips={cfg.fee_pips!r} must be one of the fee tiers {FEE_TIERS}")
    _number(problems, "every_blocks", cfg.every_blocks, low=1, integer=True)
    if cfg.max_decisions is not None:
        _number(problems, "max_decisions", cfg.max_decisions, low=1, integer=True, what="or null to run until stopped")
    _number(problems, "poll_seconds", cfg.poll_seconds, low=0, low_open=True)
    _number(problems, "rpc_retries", cfg.rpc_retries, low=1, integer=True)
    _number(problems, "reconnect_timeout_s", cfg.reconnect_timeout_s, low=0, low_open=True)
    _number(problems, "receipt_timeout_s", cfg.receipt_timeout_s, low=0, low_open=True)
    _number(problems, "gas_bump", cfg.gas_bump, low=1.1, what="nodes accept a replacement only 10% or more above")
    _number(problems, "max_replacements", cfg.max_replacements, low=0, integer=True)
    if cfg.account is not None and not (isinstance(cfg.account, str) and ADDRESS.match(cfg.account)):
        problems.append("live.account must be an address: 0x and 40 hex digits (the value is not shown)")
    if not (isinstance(cfg.key_env, str) and ENV_NAME.match(cfg.key_env)):
        problems.append(
            "live.key_env must name an environment variable, e.g. DEFIGYM_PRIVATE_KEY (the value is not shown)"
        )
    if not (isinstance(cfg.keystore_password_env, str) and ENV_NAME.match(cfg.keystore_password_env)):
        problems.append("live.keystore_password_env must name an environment variable (the value is not shown)")
    _guards(problems, cfg.guards)
    if problems:
        raise LiveConfigError("bad live config: " + "; ".join(problems))
