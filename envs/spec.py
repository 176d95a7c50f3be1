"""What the project knows about an env, in one record: its id, the role that learns in it, the world it runs in
(``WorldRecipe``), its typed ``env.*`` config (each number's range declared beside its default: ``ranged``), how that config becomes the env's
arguments, and what export and evaluation need.

Each env module defines a ``SPEC``; ``envs/__init__.py`` registers them with Gymnasium and lists them in
``SPECS``. train.py, evaluate.py, export and the config checks read the spec and name no env themselves,
so a new env is one module (its classes, its config and its spec) plus ``configs/env/<name>.yaml``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Optional, cast

from envs.liquidity_profile import background
from envs.worlds.make import WorldRecipe

#: backend.* chain features an env may support beside running on a chain it deploys
ATTACH, INIT_FROM, REPLAY_BLOCKS = "attach", "init_from", "replay_blocks"

#: a range a number must fall in: (test, how the error message states it)
Rule = tuple[Callable[[float], bool], str]
POSITIVE: Rule = (lambda x: x > 0, "> 0")
NON_NEGATIVE: Rule = (lambda x: x >= 0, ">= 0")
ANY: Rule = (lambda x: True, "")
UNIT: Rule = (lambda x: 0 <= x <= 1, "in [0, 1]")
UNIT_OPEN_LOW: Rule = (lambda x: 0 < x <= 1, "in (0, 1]")
UNIT_OPEN_HIGH: Rule = (lambda x: 0 <= x < 1, "in [0, 1)")


def ranged(default: Any, rule: Rule) -> Any:
    """A config field whose number (each entry of a list, given as a tuple default; none where the field is
    optional and null) must satisfy ``rule``: a schema states its own ranges, and the config check reads them
    (``rules``)."""
    if isinstance(default, tuple):
        return field(default_factory=lambda: list(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


def rules(schema: type) -> dict[str, Rule]:
    """Each ranged field of a config schema and its rule."""
    return {f.name: f.metadata["rule"] for f in fields(schema) if "rule" in f.metadata}


@dataclass
class EnvConfig:
    """The keys every env takes (configs/env/<name>.yaml); each env's config adds its own."""

    id: str = "?"  # the Gymnasium id (or defi_market_v0); set by the env's yaml
    horizon: int = ranged(720, POSITIVE)  # steps per episode
    gas_price_gwei: float = ranged(10.0, NON_NEGATIVE)


@dataclass
class PoolConfig(EnvConfig):
    """The keys of the envs whose world holds the Uniswap V3 USDC/WETH pool and its order flow."""

    fee_pips: int = 500  # pool fee tier: 100, 500, 3000 or 10000
    flow: str = "calibrated"  # uninformed swaps: calibrated (fitted to real swaps, envs.flows.calibrated) or toy
    flow_file: Optional[str] = None  # calibrated: a parameter file (`python -m envs.data fit-flow`); replay: events
    noise_traders: int = ranged(2, NON_NEGATIVE)  # flow=toy (and a V2 pair beside the pool): noise swaps per step
    noise_trade_usd: float = ranged(5_000.0, NON_NEGATIVE)  # flow=toy (and the V2 pair): median noise swap
    pool_value_usd: float = ranged(20_000_000.0, POSITIVE)  # background liquidity in the pool
    #: the other LPs: recentering (fitted to a real pool's turnover for the fee tier: part of the value
    #: re-centres when the price leaves its range) or static (five ranges laid at the start, never moving);
    #: the two keys below override its parts. A fork's or a replay's own LPs replace it.
    background: str = "recentering"
    #: background ranges as [half-width as a fraction of price (null: full range), share of pool_value_usd]
    liquidity_profile: Optional[List[List[Optional[float]]]] = None  # null: the background's
    #: scripted LPs that re-centre their range when the price leaves it: [half-width in ticks, share of
    #: pool_value_usd] each, taken from the static profile's value ([]: none; null: the background's)
    recentering_lps: Optional[List[List[Any]]] = None  # numbers, checked by agents.config
    jit_usd: float = ranged(0.0, NON_NEGATIVE)  # a just-in-time LP's capital (0: none): it mints around large swaps
    jit_min_swap_usd: float = ranged(250_000.0, NON_NEGATIVE)  # the smallest swap it mints for
    #: each uninformed swap's minimum output: its quote less this (null: none)
    slippage_bps: Optional[float] = ranged(None, NON_NEGATIVE)
    sandwich_usd: float = ranged(0.0, NON_NEGATIVE)  # a sandwich searcher's capital (0: none): it sandwiches swaps
    jit_half_width: int = ranged(0, NON_NEGATIVE)  # its range's half-width in ticks (0: one tick spacing)
    #: a Uniswap V2 USDC/WETH pair of this value beside the pool (0: none), traded by its own arbitrageur and
    #: noise_traders toy swaps each block: a second venue on the same price
    v2_pair_usd: float = ranged(0.0, NON_NEGATIVE)
    #: a second Uniswap V3 USDC/WETH pool of this value beside the pool (0: none), at fee tier
    #: v3_pool_beside_fee_pips (not fee_pips), traded by its own arbitrageur and noise_traders toy swaps each block
    v3_pool_beside_usd: float = ranged(0.0, NON_NEGATIVE)
    v3_pool_beside_fee_pips: int = 3000  # its tier: 100, 500, 3000 or 10000

    def world(self) -> dict:
        """The world's keyword arguments (``world=`` of the envs). A replay's recorded LPs are the
        background: the fitted re-centring LPs join only a market of the world's own."""
        recentering, profile = background(self.background, self.fee_pips)
        if self.flow == "replay":
            recentering = ()
        if self.liquidity_profile is not None:
            profile = tuple((w, float(cast(float, share))) for w, share in self.liquidity_profile)  # checked
        if self.recentering_lps is not None:
            recentering = tuple((int(w), float(share)) for w, share in self.recentering_lps)
        return {
            "noise_traders": self.noise_traders,
            "noise_trade_usd": self.noise_trade_usd,
            "pool_value_usd": self.pool_value_usd,
            "flow": self.flow,
            "flow_file": self.flow_file,
            "liquidity_profile": profile,
            "recentering_lps": recentering,
            "jit_usd": self.jit_usd,
            "jit_min_swap_usd": self.jit_min_swap_usd,
            "slippage_bps": self.slippage_bps,
            "sandwich_usd": self.sandwich_usd,
            "jit_half_width": self.jit_half_width,
            "v2_pair_usd": self.v2_pair_usd,
            "v3_pool_beside_usd": self.v3_pool_beside_usd,
            "v3_pool_beside_fee_pips": self.v3_pool_beside_fee_pips,
        }


@dataclass
class LendingConfig(PoolConfig):
    """The Aave envs' keys: the pool's world plus the lending market's overrides."""

    lending: Dict[str, Any] = field(default_factory=dict)  # LendingParams overrides (borrowers, target_ltv, ...)


@dataclass(frozen=True)
class EnvSpec:
    """One env: its id and config name, who learns in it, its config schema and how the config becomes
    its keyword arguments, and what evaluation and export read."""

    id: str  # the Gymnasium id, e.g. defigym/UniswapV3LP-v0
    name: str  # env=<name> selects configs/env/<name>.yaml
    role: Optional[str]  # the role whose policy learns; None: env.train_role chooses (the market)
    entry_point: str  # "module:callable" of one world (the market: its parallel_env)
    vector_entry_point: Optional[str]  # "module:class" of a batch of worlds (numpy, torch), if any
    config: type  # the env's typed env.* schema: a key it lacks fails, named
    kwargs: Callable[[Any], dict]  # env.* -> the env's keyword arguments (driver, horizon and gas added by the caller)
    world: WorldRecipe  # what its world is made of: the env makes it from this, and an export records it
    actions: tuple[str, Optional[str]] = ("", None)  # what the (discrete, continuous) actions mean, for the manifest
    scoring: str = "trading"  # how evaluate.py scores its role: lp or trading (the market's own: role None)
    capital_account: bool = False  # trading report: risk and return of a capital account (else profit per step)
    chain_features: tuple[str, ...] = (ATTACH,)  # backend.* features beyond deploying its own market
    baselines: tuple[str, ...] = ()  # eval.policies it is compared with by default ("baseline:<name>")

    @property
    def evaluation(self) -> str:
        """The report evaluate.py writes: the market's (an env whose learning role the config picks), or its
        role's scoring."""
        return "market" if self.role is None else self.scoring

    def classes(self) -> tuple[Callable, Optional[Callable]]:
        """(one world's env, the vector env or None), imported from the entry points."""
        return _load(self.entry_point), (_load(self.vector_entry_point) if self.vector_entry_point else None)


def _load(entry_point: str) -> Callable:
    module, _, name = entry_point.partition(":")
    return getattr(importlib.import_module(module), name)
