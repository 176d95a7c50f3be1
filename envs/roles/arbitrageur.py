"""The CEX-DEX arbitrageur: sees the pool's gap to the reference (CEX) price and decides how much of
the trade that closes it to the edge of the no-trade band to take, paying the pool fee and gas,
against a competitor that sometimes gets there first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from envs.assets.gas import action_units, units_usd
from envs.roles.actions import check_action_type, choice
from envs.roles.role import Receipt
from envs.roles.volatility import WatchesReference
from envs.units import FEE_DENOMINATOR
from envs.worlds.market import UniswapV3Market

DEFAULT_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # of the trade to the band's edge
OBSERVATION_FEATURES = (
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("beyond_band", "100 * how far the gap exceeds the pool fee (0 inside the no-trade band)", "%"),
    ("last_return", "100 * log return of the reference price over the last step", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
    ("swap_gas_usd", "what one swap costs in gas, in USD / 10", "10 USD"),
)
FRACTION = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)  # a continuous action: the fraction of the trade


@dataclass
class Arbitrageur(WatchesReference):
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    action_type: str = "discrete"  # or "continuous": the fraction in [0, 1]
    gas_price_gwei: float = 10.0
    volatility_halflife_steps: float = 24.0
    FEATURES = OBSERVATION_FEATURES
    CONTINUOUS_ACTION_SPACE = FRACTION

    def __post_init__(self):
        check_action_type(self.action_type)
        if not self.fractions or min(self.fractions) <= 0 or max(self.fractions) > 1:
            raise ValueError("fractions must lie in (0, 1]")

    @property
    def choices(self) -> int:
        return len(self.fractions)

    def swap_gas_usd(self, market: UniswapV3Market) -> np.ndarray:
        return units_usd(action_units("v3_swap"), self.gas_price_gwei, market.reference_price())

    def observation(self, market: UniswapV3Market) -> np.ndarray:
        gap = np.log(market.pool_price() / market.reference_price())
        band = -np.log(1 - market.fee_pips / FEE_DENOMINATOR)
        return np.stack(
            [
                100 * gap,
                100 * np.clip(np.abs(gap) - band, 0.0, None),
                100 * self.volatility.last_return,
                self.volatility.annualized(market.dt),
                self.swap_gas_usd(market) / 10,
            ],
            axis=1,
        ).astype(np.float32)

    def decode(self, action, n: int) -> np.ndarray:
        """Actions -> the fraction of the trade to take, per world."""
        if self.action_type == "discrete":
            a = choice(
                action,
                n,
                self.choices,
                f"arbitrage actions must be integers in "
                f"[0, {len(self.fractions)}]: 0 skips, i takes fractions[i-1] of {self.fractions}",
            )
            return np.asarray((0.0,) + tuple(self.fractions))[a]
        a = np.asarray(action, dtype=float).reshape(n)
        if not np.all(np.isfinite(a)) or np.any((a < -1e-6) | (a > 1 + 1e-6)):
            raise ValueError(f"continuous arbitrage actions must be fractions in [0, 1], got {action!r}")
        return np.clip(a, 0.0, 1.0)

    def act(self, market: UniswapV3Market, action) -> Receipt:
        """Trade ``fraction`` of the way to the no-trade band's edge; an attempt pays gas even when a
        competitor closed the gap first."""
        fraction = self.decode(action, market.n)
        profit, traded = market.agent_arbitrage(fraction)
        gas = np.where(fraction > 0, action_units("v3_swap"), 0.0)
        return Receipt.priced(
            gas, self.gas_price_gwei, market.reference_price(), profit, {"traded": traded.astype(float)}
        )

    def score(self, market: UniswapV3Market, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward: the arbitrage's profit net of gas."""
        assert receipt.profit_usd is not None
        return receipt.profit_usd - receipt.gas_usd, {
            "profit_usd": receipt.profit_usd,
            "gas_usd": receipt.gas_usd,
        } | receipt.info
