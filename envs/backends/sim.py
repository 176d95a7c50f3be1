"""A batched Uniswap V3 market on the simulator: the reference price moves, an arbitrageur trades the
pool to the edge of its no-trade band, noise traders swap, and LP positions earn fees, in N worlds.

Prices here are human (USD per ETH); the pool runs in raw units, converted in ``envs.units``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.backends.arrays import ArrayBackend, array_backend
from envs.drivers.base import PriceDriver
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio

FEE_DENOMINATOR = 1_000_000


@dataclass(frozen=True)
class V3WorldParams:
    """A USDC/WETH pool (USDC token0, as on mainnet) and the flow around it."""

    fee_pips: int = 500
    decimals0: int = 6  # USDC
    decimals1: int = 18  # WETH
    #: (half-width as a fraction of price, USD value) ranges of background liquidity around the start price
    liquidity_profile: tuple[tuple[float, float], ...] = ((0.005, 6e6), (0.02, 5e6), (0.10, 4e6), (0.30, 3e6),
                                                          (0.90, 2e6))
    noise_traders: int = 2  # swaps per step from uninformed traders
    noise_trade_usd: float = 5_000.0  # median size of a noise swap (lognormal, sigma 1)


class UniswapV3World:
    """N worlds of one pool, stepped together with no per-world Python loop."""

    def __init__(self, n: int, driver: PriceDriver, params: V3WorldParams = V3WorldParams(),
                 backend: ArrayBackend | str = "numpy", max_positions: int = 1):
        self.n, self.driver, self.params = n, driver, params
        self.b = array_backend(backend) if isinstance(backend, str) else backend
        self.pool_params = v3.V3PoolParams(fee_pips=params.fee_pips, max_positions=max_positions)
        self.shift = 10.0 ** (params.decimals1 - params.decimals0)  # raw token1/token0 = shift / price

    # --- units ------------------------------------------------------------------------------
    def sqrt_price_of(self, usd_per_eth):
        """Pool sqrt price (raw WETH per raw USDC) for a USD-per-ETH price."""
        return self.b.xp.sqrt(self.shift / usd_per_eth)

    def price_of(self, sqrt_price):
        return self.shift / (sqrt_price * sqrt_price)

    def pool_price(self):
        return self.price_of(self.state.sqrt_price)

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator) -> None:
        """Start the price paths and lay each world's liquidity profile around its own start price."""
        xp, b, p = self.b.xp, self.b, self.params
        self.rng = rng
        start = b.asarray(self.driver.reset(rng, self.n))
        self.reference = start
        spacing = self.pool_params.tick_spacing
        sqrt_start = self.sqrt_price_of(start)
        center = get_tick_at_sqrt_ratio(sqrt_start) // spacing * spacing
        ticks, nets = [], []
        for half_width, usd in p.liquidity_profile:
            w = max(1, round(np.log1p(half_width) / np.log1p(1e-4) / spacing)) * spacing
            lower, upper = center - w, center + w
            liquidity = get_liquidity_for_amounts(sqrt_start, get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper),
                                                  usd / 2 * 10**p.decimals0 + 0 * start, usd / 2 / start * 10**p.decimals1)
            ticks += [lower, upper]
            nets += [liquidity, -liquidity]
        ticks, nets = xp.stack(ticks, axis=1), xp.stack(nets, axis=1)
        order = xp.argsort(ticks, axis=1, stable=True)
        self.state = v3.from_arrays(xp, self.pool_params, sqrt_start, xp.take_along_axis(ticks, order, axis=1),
                                    xp.take_along_axis(nets, order, axis=1), b.device)

    # --- actors -----------------------------------------------------------------------------
    def arbitrage_to(self, reference_price):
        """Trade each pool to the edge of the no-trade band around ``reference_price``: past it the
        fee makes arbitrage unprofitable. Returns (amount in, amount out, selling USDC) per world."""
        xp = self.b.xp
        fee = self.params.fee_pips / FEE_DENOMINATOR
        sqrt_ref = self.sqrt_price_of(reference_price)
        sqrt_now = self.state.sqrt_price
        # selling USDC (token0) lowers sqrt(WETH/USDC); it pays while sqrt_now > sqrt_ref / sqrt(1 - fee)
        hi, lo = sqrt_ref / (1 - fee) ** 0.5, sqrt_ref * (1 - fee) ** 0.5
        target = xp.clip(sqrt_now, lo, hi)
        sell_usdc = target < sqrt_now
        moving = target != sqrt_now
        result = v3.swap(self.state, self.pool_params, sell_usdc, xp.where(moving, xp.inf, 0.0), target, moving)
        return result, sell_usdc

    def noise_trades(self):
        xp, p = self.b.xp, self.params
        for _ in range(p.noise_traders):
            usd = p.noise_trade_usd * np.exp(self.rng.standard_normal(self.n))
            sell_usdc = self.rng.random(self.n) < 0.5
            raw = np.where(sell_usdc, usd * 10**p.decimals0, usd / self.b.to_numpy(self.reference) * 10**p.decimals1)
            z41 = self.b.asarray(sell_usdc, dtype=xp.bool)
            v3.swap(self.state, self.pool_params, z41, self.b.asarray(raw), v3.default_price_limit(z41),
                    self.b.asarray(np.ones(self.n, bool), dtype=xp.bool))

    def step(self):
        """One step: the reference price moves, the arbitrageur trades, noise traders swap."""
        self.reference = self.b.asarray(self.driver.step())
        arb, _ = self.arbitrage_to(self.reference)
        self.noise_trades()
        return arb

    # --- LP positions -----------------------------------------------------------------------
    def open_position(self, slot: int, half_width_ticks, usd_value):
        """Mint a range centered on the current tick, worth about ``usd_value``; returns (liquidity, amount0, amount1)."""
        xp, s, spacing = self.b.xp, self.state, self.pool_params.tick_spacing
        half = xp.astype(self.b.asarray(half_width_ticks) // spacing * spacing, xp.int64)
        center = s.tick // spacing * spacing
        lower, upper = center - half, center + half + spacing
        sl, su = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper)
        price = self.pool_price()
        usd = self.b.asarray(usd_value)
        liquidity = get_liquidity_for_amounts(s.sqrt_price, sl, su, usd / 2 * 10**self.params.decimals0,
                                              usd / 2 / price * 10**self.params.decimals1)
        slots = xp.full((self.n,), slot, dtype=xp.int64, device=self.b.device)
        amount0, amount1 = v3.modify_position(s, self.pool_params, slots, lower, upper, liquidity, liquidity > 0)
        return liquidity, amount0, amount1

    def position_fees_usd(self, slot: int):
        """Fees a position has earned and not collected, in USD at the pool price."""
        xp, s = self.b.xp, self.state
        slots = xp.full((self.n,), slot, dtype=xp.int64, device=self.b.device)
        f0, f1 = v3.position_fees(s, slots)
        return f0 / 10**self.params.decimals0 + f1 / 10**self.params.decimals1 * self.pool_price()
