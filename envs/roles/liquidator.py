"""The liquidator: watches every lending account's health factor, picks an unhealthy account to
liquidate (or none), repays as much USDC debt as the protocol allows (Aave's close factor; all of it on
Morpho Blue), takes the WETH with its bonus and sells it straight into the pool. Scored by USDC received minus USDC repaid, net of gas,
which an attempt pays even when a competitor got there first.

This module is the one source of the liquidator's observation, for training, evaluation and the
live adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.assets.gas import action_units, gas_units, units_usd
from envs.roles.actions import choice
from envs.roles.role import Receipt
from envs.roles.volatility import WatchesReference
from envs.units import BASE_UNIT, USDC_UNIT
from envs.worlds.lending import AGENT_LIQUIDATOR, lending_of
from envs.worlds.market import UniswapV3Market

SLOT_FEATURES = (
    ("liquidatable", "1 if the account's health factor is below 1", "flag"),
    ("shortfall", "100 * (1 - health factor), 0 when healthy", "%"),
    (
        "debt_to_cover",
        "the debt the protocol lets a liquidator repay (close factor, collateral), USD / 10,000",
        "10k USD",
    ),
    ("bonus_usd", "the liquidation bonus on that debt after the protocol's share, USD / 100", "100 USD"),
)
MARKET_FEATURES = (
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("last_return", "100 * log return of the reference price over the last step", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
    ("gas_usd", "gas of a liquidation and the sale of its collateral, USD / 10", "10 USD"),
)


@dataclass
class Liquidator(WatchesReference):
    slots: int = 4  # the most attractive accounts shown, by bonus
    gas_price_gwei: float = 10.0
    volatility_halflife_steps: float = 24.0

    def __post_init__(self):
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")

    @property
    def features(self) -> tuple[tuple[str, str, str], ...]:
        """The observation's (name, meaning, unit) in order: each slot's, spelled slot1_..., then the market's."""
        slots = tuple(
            (f"slot{i + 1}_{name}", meaning, unit) for i in range(self.slots) for name, meaning, unit in SLOT_FEATURES
        )
        return slots + MARKET_FEATURES

    @property
    def choices(self) -> int:
        return self.slots

    # --- episode state ----------------------------------------------------------------------
    def gas_usd(self, market: UniswapV3Market) -> np.ndarray:
        return units_usd(
            action_units(lending_of(market).pool.GAS["liquidation_call"], market.SWAP_GAS),
            self.gas_price_gwei,
            market.reference_price(),
        )

    def observation(self, market: UniswapV3Market) -> np.ndarray:
        """Reads the candidates too: ``self.candidates`` (N, slots) are the accounts the slots show
        (-1 for an empty slot), best first."""
        hf, cover, bonus = lending_of(market).liquidatable()
        n, k = hf.shape
        liquidatable = hf < 1
        cover = cover / BASE_UNIT  # USD
        bonus = np.where(liquidatable, bonus / BASE_UNIT, 0.0)  # USD, before the sale's price impact
        order = np.argsort(-bonus, axis=1, kind="stable")[:, : self.slots]
        pad = self.slots - order.shape[1]
        shown = np.take_along_axis(liquidatable, order, axis=1)
        self.candidates = np.pad(np.where(shown, order, -1), ((0, 0), (0, pad)), constant_values=-1)

        def slot(x):
            return np.pad(np.where(shown, np.take_along_axis(x, order, axis=1), 0.0), ((0, 0), (0, pad)))

        slots = np.stack(
            [
                slot(liquidatable.astype(float)),
                slot(100 * np.clip(1 - hf, 0.0, None)),
                slot(cover / 1e4),
                slot(bonus / 100),
            ],
            axis=2,
        ).reshape(n, -1)
        market_obs = np.stack(
            [
                100 * np.log(market.pool_price() / market.reference_price()),
                100 * self.volatility.last_return,
                self.volatility.annualized(market.dt),
                self.gas_usd(market) / 10,
            ],
            axis=1,
        )
        return np.concatenate([slots, market_obs], axis=1).astype(np.float32)

    # --- actions ----------------------------------------------------------------------------
    def decode(self, action, n: int) -> np.ndarray:
        """Actions -> the account to liquidate per world (-1: none), from the last observation's slots."""
        a = choice(
            action,
            n,
            self.choices,
            f"liquidator actions must be integers in [0, {self.slots}]: 0 waits, i liquidates the account in slot i",
        )
        return np.where(a > 0, np.take_along_axis(self.candidates, np.maximum(a - 1, 0)[:, None], axis=1)[:, 0], -1)

    def act(self, market: UniswapV3Market, action, who: str = AGENT_LIQUIDATOR) -> Receipt:
        """Liquidate the accounts the action picks from the last observation's slots and sell the
        collateral; the receipt holds the USDC gained before gas and whether each world liquidated."""
        accounts, lending = self.decode(action, market.n), lending_of(market)
        profit, done = np.zeros(market.n), np.zeros(market.n, bool)
        for account in np.unique(accounts[accounts >= 0]):
            got, ok = lending.liquidate_and_sell(who, int(account), accounts == account)
            profit, done = profit + got / USDC_UNIT, done | ok
        g = gas_units()
        call = g[lending.pool.GAS["liquidation_call"]]
        gas = np.where(accounts >= 0, call, 0.0) + np.where(done, lending.swap_units, 0.0)  # the sale's venue's
        return Receipt.priced(
            gas, self.gas_price_gwei, market.reference_price(), profit, {"liquidated": done.astype(float)}
        )

    def score(self, market: UniswapV3Market, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward: the liquidation's profit net of gas."""
        assert receipt.profit_usd is not None
        return receipt.profit_usd - receipt.gas_usd, {
            "profit_usd": receipt.profit_usd,
            "gas_usd": receipt.gas_usd,
        } | receipt.info
