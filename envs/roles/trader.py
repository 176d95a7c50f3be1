"""The trader: buys or sells WETH through the pool in a few fixed sizes, or waits, holding what it
bought (an inventory that may go short, against a credit line). Scored by its mark-to-market PnL at
the reference price net of gas. Played at random it is the noise trader; learned, a directional or
mean-reverting one.

This module is the one source of the trader's observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.assets.gas import action_units, units_usd
from envs.roles.actions import choice
from envs.roles.role import Receipt
from envs.roles.volatility import WatchesReference
from envs.units import USDC_UNIT, WETH_UNIT
from envs.worlds.market import TRADER_WALLET, UniswapV3Market

DEFAULT_SIZES_USD = (5_000.0, 50_000.0)
OBSERVATION_FEATURES = (
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("last_return", "100 * log return of the reference price over the last step", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
    ("inventory", "WETH held (negative: short), valued at the reference price, USD / 100,000", "100k USD"),
    ("swap_gas_usd", "what one swap costs in gas, in USD / 10", "10 USD"),
)


@dataclass
class Trader(WatchesReference):
    sizes_usd: tuple[float, ...] = DEFAULT_SIZES_USD
    gas_price_gwei: float = 10.0
    volatility_halflife_steps: float = 24.0
    FEATURES = OBSERVATION_FEATURES

    def __post_init__(self):
        if not self.sizes_usd or min(self.sizes_usd) <= 0:
            raise ValueError(f"sizes_usd must be positive trade sizes, got {self.sizes_usd}")

    @property
    def choices(self) -> int:
        """Buy, then sell, each of ``sizes_usd``."""
        return 2 * len(self.sizes_usd)

    def start(self, market: UniswapV3Market) -> None:
        """A flat book."""
        self.usdc, self.weth, self.value = np.zeros(market.n), np.zeros(market.n), np.zeros(market.n)

    def swap_gas_usd(self, market: UniswapV3Market) -> np.ndarray:
        return units_usd(action_units("v3_swap"), self.gas_price_gwei, market.reference_price())

    def observation(self, market: UniswapV3Market) -> np.ndarray:
        ref = market.reference_price()
        return np.stack(
            [
                100 * np.log(market.pool_price() / ref),
                100 * self.volatility.last_return,
                self.volatility.annualized(market.dt),
                self.weth * ref / 1e5,
                self.swap_gas_usd(market) / 10,
            ],
            axis=1,
        ).astype(np.float32)

    def decode(self, action, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Actions -> (buy WETH?, USD size; 0 waits)."""
        k = len(self.sizes_usd)
        a = choice(
            action,
            n,
            self.choices,
            f"trader actions must be integers in [0, {2 * k}]: 0 waits, 1..{k} buy and "
            f"{k + 1}..{2 * k} sell WETH worth sizes_usd {self.sizes_usd}",
        )
        sizes = np.asarray((0.0,) + tuple(self.sizes_usd) * 2)[a]
        return (a >= 1) & (a <= k), sizes

    def act(self, market: UniswapV3Market, action) -> Receipt:
        """Swap from the traders' wallet, booking the trade in this trader's own book."""
        buy, usd = self.decode(action, market.n)
        trading = usd > 0
        raw = np.floor(np.where(buy, usd * USDC_UNIT, usd / market.reference_price() * WETH_UNIT))
        paid, got = market.trade("trader", TRADER_WALLET, buy, raw, None, trading)
        self.usdc += np.where(buy, -paid, got) / USDC_UNIT
        self.weth += np.where(buy, got, -paid) / WETH_UNIT
        return Receipt.priced(
            np.where(trading, action_units("v3_swap"), 0.0), self.gas_price_gwei, market.reference_price()
        )

    def score(self, market: UniswapV3Market, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward: the change in the book's value at the reference price since the last score, net of gas."""
        value = self.usdc + self.weth * market.reference_price()
        pnl = value - self.value - receipt.gas_usd
        self.value = value
        return pnl, {"gas_usd": receipt.gas_usd}
