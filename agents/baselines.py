"""Scripted baselines for each role. Each acts on its role's observation (so it runs on every backend
and in the live adapter) with stable-baselines3's ``predict`` signature, batched over worlds. They find
the features they read by name (``feature_index``), so a role's observation may gain or reorder features."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from envs.roles.arbitrageur import Arbitrageur
from envs.roles.borrower import Borrower
from envs.roles.jit_provider import JITProvider
from envs.roles.liquidator import Liquidator
from envs.roles.liquidity_provider import LiquidityProvider
from envs.roles.searcher import SandwichSearcher
from envs.roles.trader import Trader
from envs.roles.v2_liquidity_provider import V2LiquidityProvider
from envs.worlds.v3_accounts import FULL_RANGE


class Scripted:
    """Stable-baselines3's ``predict`` over one observation or a batch; subclasses give ``act`` (N, F) -> (N,)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        actions = self.act(np.atleast_2d(observation))
        return (actions if np.ndim(observation) == 2 else actions[0]), None


def nearest_action(role, options, value: float, log_scale: bool = False) -> int:
    """The discrete action (1 + index) whose option is nearest ``value``: the scripted baselines act in
    their role's discrete action space."""
    if role.action_type != "discrete":
        raise ValueError(f"the scripted {type(role).__name__} baselines act in the discrete action space")
    options = np.asarray(options, dtype=float)
    distance = np.abs(np.log(options / value)) if log_scale else np.abs(options - value)
    return 1 + int(np.argmin(distance))


class LPBaseline(Scripted):
    """Maps observations to the role's discrete actions; subclasses decide when and how wide."""

    role = LiquidityProvider

    def __init__(self, role: LiquidityProvider, half_width: int = 400):
        self.action = nearest_action(role, role.half_widths, half_width, log_scale=True)  # the nearest offered width
        self.half_width = int(role.half_widths[self.action - 1])
        self.position, self.width = role.feature_index("range_position"), role.feature_index("range_half_width")
        self.in_range, self.elapsed = role.feature_index("in_range"), role.feature_index("time_elapsed")

    def rebalance(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs):
        return np.where(self.rebalance(obs), self.action, 0)


class HODL(LPBaseline):
    """Never provides liquidity: holds the starting USDC and WETH."""

    def rebalance(self, obs):
        return np.zeros(len(obs), bool)


class PassiveFullRange(LPBaseline):
    """Opens a full-range position once (a Uniswap V2 LP) and never touches it."""

    def __init__(self, role: LiquidityProvider):
        super().__init__(role, FULL_RANGE)

    def rebalance(self, obs):
        return obs[:, self.width] == 0


class FixedWidthRecentering(LPBaseline):
    """Keeps a range of ``half_width`` ticks and re-centres it whenever the price leaves it."""

    def rebalance(self, obs):
        return (obs[:, self.width] == 0) | (obs[:, self.in_range] == 0)


class TauReset(LPBaseline):
    """The tau-reset strategy (Fan, Martinez-Pinto, Pearce, Valentin 2022): re-centre when the price
    drifts more than ``tau`` of the half-width from the range's centre (tau = 1: on leaving it)."""

    def __init__(self, role: LiquidityProvider, half_width: int = 400, tau: float = 0.5):
        super().__init__(role, half_width)
        if not 0 < tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {tau}")
        self.tau = tau

    def rebalance(self, obs):
        drift = np.abs(obs[:, self.position] - 0.5) * 2  # 0 at the centre, 1 at an edge
        return (obs[:, self.width] == 0) | (drift > self.tau)


class PeriodicRecentering(LPBaseline):
    """Re-centres a range of ``half_width`` ticks every ``period_steps`` steps, whatever the price does
    (the passive benchmark of Xu & Brini 2025: a 50-tick range re-centred every 500 hours)."""

    def __init__(self, role: LiquidityProvider, half_width: int = 20, period_steps: int = 500, horizon: int = 1500):
        super().__init__(role, half_width)
        self.period, self.horizon = period_steps, horizon

    def rebalance(self, obs):
        step = np.rint(obs[:, self.elapsed] * self.horizon).astype(int)
        return (obs[:, self.width] == 0) | ((step % self.period == 0) & (step > 0))


class GreedyArbitrageur(Scripted):
    """Takes the whole trade to the band's edge whenever the pool is outside its no-trade band by more
    than ``min_gap_pct`` (the optimal CEX-DEX arbitrageur, up to gas: set the gap where profit covers it)."""

    role = Arbitrageur

    def __init__(self, role: Arbitrageur, min_gap_pct: float = 0.0):
        self.full, self.min_gap = nearest_action(role, role.fractions, 1.0), min_gap_pct  # the whole trade
        self.beyond_band = role.feature_index("beyond_band")  # how far beyond the no-trade band, %

    def act(self, obs):
        return np.where(obs[:, self.beyond_band] > self.min_gap, self.full, 0)


class TargetLTVBorrower(Scripted):
    """Moves to ``target`` LTV once and then holds whatever the price does (a static leveraged position)."""

    role = Borrower

    def __init__(self, role: Borrower, target: float = 0.65):
        self.action = nearest_action(role, role.targets, target)
        self.target = float(role.targets[self.action - 1])
        self.ltv, self.health_factor = role.feature_index("ltv"), role.feature_index("health_factor")

    def act(self, obs):
        return np.where(obs[:, self.ltv] == 0, self.action, 0)


class HealthFactorKeeper(TargetLTVBorrower):
    """Keeps ``target`` LTV, and moves back to it whenever the health factor leaves [``low``, ``high``]:
    deleverages before a liquidation, re-levers after a rally."""

    def __init__(self, role: Borrower, target: float = 0.65, low: float = 1.12, high: float = 1.6):
        super().__init__(role, target)
        if not 1 < low < high:
            raise ValueError(f"health factor band must satisfy 1 < low < high, got ({low}, {high})")
        self.low, self.high = low, high

    def act(self, obs):
        hf = obs[:, self.health_factor]
        return np.where((obs[:, self.ltv] == 0) | (hf < self.low) | (hf > self.high), self.action, 0)


class GreedyLiquidator(Scripted):
    """Liquidates the best account on offer (slot 1) whenever its bonus covers the gas."""

    role = Liquidator

    def __init__(self, role: Liquidator):
        self.liquidatable, self.bonus = role.feature_index("slot1_liquidatable"), role.feature_index("slot1_bonus_usd")
        self.gas = role.feature_index("gas_usd")

    def act(self, obs):
        bonus_usd, gas_usd = obs[:, self.bonus] * 100, obs[:, self.gas] * 10
        return np.where((obs[:, self.liquidatable] > 0) & (bonus_usd > gas_usd), 1, 0)


class NoiseTrader(Scripted):
    """An uninformed trader: each step, with probability ``activity``, buys or sells (a coin flip) one of
    the role's sizes at random; its own generator, seeded, makes the flow reproducible."""

    role = Trader

    def __init__(self, role: Trader, activity: float = 0.5, seed: int = 0):
        if not 0 <= activity <= 1:
            raise ValueError(f"activity must be a probability in [0, 1], got {activity}")
        self.sizes, self.activity, self.rng = len(role.sizes_usd), activity, np.random.default_rng(seed)

    def act(self, obs):
        n = len(obs)
        return np.where(self.rng.random(n) < self.activity, 1 + self.rng.integers(0, 2 * self.sizes, n), 0)


class GreedySearcher(Scripted):
    """Takes the largest share of every sandwich the victims' limits allow, each block (the world's
    scripted searcher, ``V3WorldParams.sandwich_usd``, as a policy)."""

    role = SandwichSearcher

    def __init__(self, role: SandwichSearcher):
        self.full = 1 + int(np.argmax(role.shares))

    def act(self, obs):
        return np.full(len(obs), self.full)


class AlwaysJIT(Scripted):
    """Mints with all its capital around every large swap, each block (the world's scripted JIT LP,
    ``V3WorldParams.jit_usd``, as a policy)."""

    role = JITProvider

    def __init__(self, role: JITProvider):
        self.full = 1 + int(np.argmax(role.shares))

    def act(self, obs):
        return np.full(len(obs), self.full)


class V2ShareHolder(Scripted):
    """Puts ``share`` of the portfolio into the V2 pair once and holds it (share 0: never provides,
    the hold benchmark; share 1: the passive V2 LP)."""

    role = V2LiquidityProvider

    def __init__(self, role: V2LiquidityProvider, share: float = 1.0):
        self.action = nearest_action(role, role.shares, share)
        self.share = role.shares[self.action - 1]
        self.in_pair = role.feature_index("in_pair")

    def act(self, obs):
        return np.where(np.abs(obs[:, self.in_pair] - self.share) > 0.05, self.action, 0)


class HoldV2(V2ShareHolder):
    """Never provides liquidity: holds the starting USDC and WETH (the V2 LP's benchmark)."""

    def __init__(self, role: V2LiquidityProvider):
        super().__init__(role, share=0.0)


class BaselineClass(Protocol):
    """A baseline's class: the role class it plays (``role``), built from a role and its keyword options."""

    @property
    def role(self) -> type: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Scripted: ...


LP_BASELINES: dict[str, BaselineClass] = {
    "hodl": HODL,
    "passive_lp": PassiveFullRange,
    "recentering_lp": FixedWidthRecentering,
    "tau_reset_lp": TauReset,
    "periodic_lp": PeriodicRecentering,
}
BASELINES: dict[str, BaselineClass] = LP_BASELINES | {
    "greedy_arbitrageur": GreedyArbitrageur,
    "target_ltv_borrower": TargetLTVBorrower,
    "hf_keeper": HealthFactorKeeper,
    "greedy_liquidator": GreedyLiquidator,
    "noise_trader": NoiseTrader,
    "greedy_searcher": GreedySearcher,
    "always_jit": AlwaysJIT,
    "passive_v2_lp": V2ShareHolder,
    "hodl_v2": HoldV2,
}


def baselines_for(role) -> list[str]:
    """The baselines that act in ``role``'s spaces."""
    return [name for name, cls in BASELINES.items() if isinstance(role, cls.role)]


def make_baseline(name: str, role, **kwargs):
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    if not isinstance(role, BASELINES[name].role):
        raise ValueError(
            f"baseline {name!r} plays the {BASELINES[name].role.__name__} role, not "
            f"{type(role).__name__}; this env's baselines are {baselines_for(role)}"
        )
    return BASELINES[name](role, **kwargs)
