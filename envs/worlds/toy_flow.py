"""The toy flow: uninformed swaps of lognormal size in a random direction, drawn from the episode's generator in a
fixed order so every backend replays the same flow from the same seed (``flow="toy"`` of a V3 world; a V2 pair's
noise traders)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from envs.units import USDC_UNIT, WETH_UNIT

#: a step's orders: [(sell USDC?, raw amount in)], each (N,)
NoiseOrders = list[tuple[np.ndarray, np.ndarray]]


class ToyFlowParams(Protocol):
    """What the toy flow reads from a world's parameters (V3's and V2's alike)."""

    @property
    def noise_traders(self) -> int: ...

    @property
    def noise_trade_usd(self) -> float: ...


def noise_orders(rng: np.random.Generator, n: int, params: ToyFlowParams, reference_price: np.ndarray) -> NoiseOrders:
    """The noise traders' swaps for one step: [(sell USDC?, raw amount in)], drawn in a fixed order
    so every backend replays the same flow from the same seed."""
    orders = []
    for _ in range(params.noise_traders):
        usd = params.noise_trade_usd * np.exp(rng.standard_normal(n))
        sell_usdc = rng.random(n) < 0.5
        orders.append((sell_usdc, np.floor(np.where(sell_usdc, usd * USDC_UNIT, usd / reference_price * WETH_UNIT))))
    return orders
