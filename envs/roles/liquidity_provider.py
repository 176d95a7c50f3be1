"""The liquidity provider: manages one concentrated USDC/WETH position (re-centre it at a chosen
width, or hold), scored by PnL at the reference price net of gas, or by fees - LVR - gas.

This module is the one source of the LP's observation: training, evaluation and the live
adapter all build it here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.roles.actions import ACT_AND_LEVEL, act_and_level, check_action_type, choice
from envs.roles.role import Receipt, Role
from envs.roles.volatility import EwmaVolatility
from envs.units import BPS, usd_per_eth_at_tick
from envs.worlds.v3_accounts import FULL_RANGE, UniswapV3Accounts

#: half-widths (in ticks) a discrete action can choose; 100 ticks is about +-1% of price; the last is the full range
DEFAULT_HALF_WIDTHS = (50, 100, 200, 400, 800, 1600, 3200, FULL_RANGE)

OBSERVATION_FEATURES = (
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("range_position", "(tick - lower) / (upper - lower); 0.5 without a position", "1"),
    ("range_half_width", "half-width of the range / 1000", "kiloticks"),
    ("in_range", "1 if the current tick is inside the range", "flag"),
    ("last_return", "100 * log return of the reference price over the last step", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
    ("fees_owed", "uncollected fees / portfolio value", "bps"),
    ("weth_share", "share of the portfolio held in WETH", "1"),
    ("time_elapsed", "share of the episode elapsed", "1"),
)
REWARDS = ("pnl", "fees_minus_lvr")


@dataclass
class MarketView:
    """One read of everything the LP looks at, taken once per step (reads cost as much as swaps)."""

    reference: np.ndarray
    pool: np.ndarray
    tick: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    liquidity: np.ndarray
    wallet: tuple[np.ndarray, np.ndarray]
    position: tuple[np.ndarray, np.ndarray]
    fees: tuple[np.ndarray, np.ndarray]

    @classmethod
    def read(cls, market: UniswapV3Accounts) -> "MarketView":
        return cls(
            market.reference_price(),
            market.pool_price(),
            market.tick(),
            *market.agent_range(),
            market.agent_wallet(),
            market.agent_position_tokens(),
            market.agent_fees(),
        )

    def where(self, mask: np.ndarray, other: "MarketView") -> "MarketView":
        """This view in masked worlds, ``other`` elsewhere: worlds of one batch read at different times."""

        def pick(a, b):
            return tuple(np.where(mask, x, y) for x, y in zip(a, b)) if isinstance(a, tuple) else np.where(mask, a, b)

        return MarketView(*(pick(getattr(self, f), getattr(other, f)) for f in self.__dataclass_fields__))

    @property
    def fees_usd(self) -> np.ndarray:
        return self.fees[0] + self.fees[1] * self.reference

    @property
    def value_usd(self) -> np.ndarray:
        """Wallet, position and uncollected fees at the reference price (USDC at $1)."""
        return (
            self.wallet[0]
            + self.position[0]
            + self.fees[0]
            + (self.wallet[1] + self.position[1] + self.fees[1]) * self.reference
        )


@dataclass
class LiquidityProvider(Role):
    half_widths: tuple[int, ...] = DEFAULT_HALF_WIDTHS
    action_type: str = "discrete"  # or "continuous": [rebalance if > 0, log-width in [-1, 1]]
    reward: str = "pnl"
    gas_price_gwei: float = 10.0
    gas_usd_per_rebalance: float | None = None  # a fixed cost per reposition instead of measured gas x gwei
    volatility_halflife_steps: float = 24.0
    allow_close: bool = False  # discrete: one more action, the last, that withdraws the position to the wallet
    FEATURES = OBSERVATION_FEATURES
    CONTINUOUS_ACTION_SPACE = ACT_AND_LEVEL

    def __post_init__(self):
        check_action_type(self.action_type)
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if not self.half_widths or min(self.half_widths) <= 0:
            raise ValueError("half_widths must be positive tick counts")
        if self.gas_price_gwei < 0:
            raise ValueError(f"gas_price_gwei must be non-negative, got {self.gas_price_gwei}")

    # --- spaces -----------------------------------------------------------------------------
    @property
    def choices(self) -> int:
        """Re-centre at each of ``half_widths``, and close where ``allow_close``."""
        return len(self.half_widths) + self.allow_close

    # --- episode state ----------------------------------------------------------------------
    def reset(self, market: UniswapV3Accounts, elapsed: float = 0.0) -> np.ndarray:
        self.view = MarketView.read(market)
        self.volatility = EwmaVolatility(self.volatility_halflife_steps)
        self.volatility.reset(self.view.reference)
        self.value = self.view.value_usd
        return self.observation(self.view, market.dt, elapsed)

    def observe(self, market: UniswapV3Accounts, elapsed: float = 0.0) -> np.ndarray:
        """Read the market once after the block and update the volatility estimate."""
        self.view = MarketView.read(market)
        self.volatility.update(self.view.reference)
        return self.observation(self.view, market.dt, elapsed)

    def observation(self, view: MarketView, dt: float, time_elapsed: float) -> np.ndarray:
        has = view.liquidity > 0
        lower, upper, tick = view.lower, view.upper, view.tick
        width = np.where(has, upper - lower, 1)
        value = np.maximum(view.value_usd, 1e-9)
        weth = (view.wallet[1] + view.position[1] + view.fees[1]) * view.reference
        obs = np.stack(
            [
                100 * np.log(view.pool / view.reference),
                np.where(has, (tick - lower) / width, 0.5),
                np.where(has, (upper - lower) / 2 / 1000, 0.0),
                (has & (tick >= lower) & (tick < upper)).astype(float),
                100 * self.volatility.last_return,
                self.volatility.annualized(dt),
                BPS * view.fees_usd / value,
                weth / value,
                np.full(len(value), time_elapsed),
            ],
            axis=1,
        )
        return obs.astype(np.float32)

    # --- actions ----------------------------------------------------------------------------
    def decode(self, action, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Actions -> (act?, half-width in ticks; 0 when acting means close), checked against the action space."""
        if self.action_type == "discrete":
            k = len(self.half_widths)
            a = choice(
                action,
                n,
                self.choices,
                f"LP actions must be integers in [0, {k + self.allow_close}]: "
                f"0 holds, i re-centres at half-widths[i-1] of {self.half_widths} ticks"
                + (f", {k + 1} closes the position" if self.allow_close else ""),
            )
            return a > 0, np.asarray((0,) + tuple(self.half_widths) + (0,) * self.allow_close)[a]
        rebalance, level = act_and_level(action, n, "continuous LP actions must be finite and in [-1, 1]^2")
        lo, hi = np.log(min(self.half_widths)), np.log(max(self.half_widths))
        return rebalance, np.round(np.exp(lo + level * (hi - lo)))

    def act(self, market: UniswapV3Accounts, action) -> Receipt:
        """Apply the actions, paying gas in USD at the reference price. ``score`` measures fees and LVR from the
        view just after acting where the LP acted, and from the last observe's view where it held."""
        acting, widths = self.decode(action, market.n)
        # fees the block paid the position before this turn (transactions ahead of it: a searcher's bundle
        # with the flow, other agents, replayed transactions that outbid it), which a view read after acting no
        # longer shows, so score adds them. Worlds that held keep the last observe's view: the position, its
        # range and the reference (which moves only after every transaction of the block) are as they were, so
        # its fees and LVR over the block are the same as from the LP's turn, and nothing is read for them.
        self.fees_before_turn = np.zeros(market.n)
        if acting.any():
            usdc, weth = market.agent_fees()
            earlier = usdc - self.view.fees[0] + (weth - self.view.fees[1]) * self.view.reference
            self.fees_before_turn = np.where(acting, earlier, 0.0)
        rebalance, closing = acting & (widths > 0), acting & (widths == 0)
        gas = market.rebalance(widths, rebalance) if rebalance.any() else np.zeros(market.n)
        if closing.any():
            gas = gas + market.close_position(closing)
        # the view after acting in worlds that acted; elsewhere the last observe's
        self.before = MarketView.read(market).where(acting, self.view) if acting.any() else self.view
        if self.gas_usd_per_rebalance is not None:  # the base gas at a fixed price; a bid still pays on the units
            return Receipt(gas, np.where(acting, self.gas_usd_per_rebalance, 0.0))
        return Receipt.priced(gas, self.gas_price_gwei, market.reference_price())

    # --- reward -----------------------------------------------------------------------------
    def score(self, market: UniswapV3Accounts, receipt: Receipt) -> tuple[np.ndarray, dict]:
        """Reward for the block, from ``act``'s view (after acting, or the last observe's where the LP held) to
        after the market moved (``observe``'s view)."""
        before, after, gas_usd = self.before, self.view, receipt.gas_usd
        pnl = after.value_usd - gas_usd - self.value  # gas is paid from outside the pool in this accounting
        self.value = after.value_usd
        fees = after.fees_usd - before.fees_usd + self.fees_before_turn
        # realized LVR of the step (Milionis et al. 2022): half |V''(p)| dp^2, V'' = -L / (2 p^1.5) in range
        p_lower, p_upper = usd_per_eth_at_tick(before.upper), usd_per_eth_at_tick(before.lower)
        p = before.reference
        in_range = (before.liquidity > 0) & (p >= p_lower) & (p <= p_upper)
        lvr = np.where(in_range, before.liquidity / (4 * p**1.5) * (after.reference - p) ** 2, 0.0)
        info = {"pnl_usd": pnl, "fees_usd": fees, "lvr_usd": lvr, "gas_usd": gas_usd, "value_usd": self.value}
        return (pnl if self.reward == "pnl" else fees - lvr - gas_usd), info
