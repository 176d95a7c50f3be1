"""The Uniswap V3 USDC/WETH pool as a component of a world, as far as every backend reads it: its sqrt price
(sqrtPriceX96 / 2**96), tick, active liquidity, the point on its liquidity curve, the initialized ticks a move
crossed and, on a chain, its time-weighted price. The simulator's side reads the batched pool state
(``envs.protocols.uniswap_v3``); a chain's reads the real pool, for the chain worlds and the live adapter alike.
The worlds still swap and manage positions themselves (``sim.py``, ``chain_world.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from envs.arrays import ArrayBackend
from envs.contracts.contract import Contract
from envs.evm.chain import TransactionReverted
from envs.protocols.uniswap_v3 import pool as v3
from envs.units import Q96, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import CurvePoint


class UniswapV3Pool(ABC):
    """The pool in N worlds (USDC is token0): the reads every backend gives the same way, (N,) numpy each."""

    n: int

    @abstractmethod
    def sqrt_price(self) -> np.ndarray: ...

    @abstractmethod
    def tick(self) -> np.ndarray: ...

    @abstractmethod
    def liquidity(self) -> np.ndarray:
        """The active liquidity, raw."""

    @abstractmethod
    def crossed_ticks(self, before: CurvePoint, after: CurvePoint) -> tuple[np.ndarray, np.ndarray]:
        """(N, K) initialized ticks, sorted, with their liquidityNet: at least those a move from ``before`` to
        ``after`` crossed (``block_accounting.reserves_moved`` prices only those)."""

    def curve_point(self) -> CurvePoint:
        """Where the pool stands on its liquidity curve: sqrt price, tick, active liquidity."""
        return CurvePoint(self.sqrt_price(), self.tick(), self.liquidity())

    def price(self) -> np.ndarray:
        """USD per WETH at the pool's price (raw WETH per raw USDC is the sqrt price squared)."""
        s = self.sqrt_price()
        return WETH_UNIT / USDC_UNIT / (s * s)


class SimUniswapV3Pool(UniswapV3Pool):
    """N pools' batched state (``state``, which the world lays at reset and its swaps and positions move)."""

    state: v3.V3PoolState

    def __init__(self, n: int, backend: ArrayBackend):
        self.n, self.b = n, backend

    def sqrt_price(self) -> np.ndarray:
        return self.b.to_numpy(self.state.sqrt_price)

    def tick(self) -> np.ndarray:
        return self.b.to_numpy(self.state.tick)

    def liquidity(self) -> np.ndarray:
        return self.b.to_numpy(self.state.liquidity)

    def crossed_ticks(self, before, after):
        """The whole tick table: a batched read costs less than picking the crossed ones per world."""
        return self.b.to_numpy(self.state.ticks), self.b.to_numpy(self.state.liquidity_net)


class ChainUniswapV3Pool(UniswapV3Pool):
    """One world's pool contract (``pool``, of tick spacing ``tick_spacing``) on a chain."""

    n = 1

    def __init__(self, pool: Contract, tick_spacing: int):
        self.pool, self.tick_spacing = pool, tick_spacing

    def curve_point(self) -> CurvePoint:
        """Read with one slot0 call."""
        sqrt_x96, tick, *_ = self.pool.call("slot0")
        return CurvePoint(np.array([sqrt_x96 / Q96]), np.array([tick]), np.array([float(self.pool.call("liquidity"))]))

    def sqrt_price_x96(self) -> int:
        """slot0's sqrtPriceX96, exact."""
        return self.pool.call("slot0")[0]

    def sqrt_price(self) -> np.ndarray:
        return np.array([self.sqrt_price_x96() / Q96])

    def tick(self) -> np.ndarray:
        return np.array([self.pool.call("slot0")[1]])

    def liquidity(self) -> np.ndarray:
        return np.array([float(self.pool.call("liquidity"))])

    def crossed_ticks(self, before, after):
        """Read from the pool's tickBitmap words between the two ticks only."""
        spacing = self.tick_spacing
        low, high = sorted((int(before.tick[0]), int(after.tick[0])))
        ticks = []
        for word in range((low // spacing) >> 8, ((high // spacing) >> 8) + 1):
            bits = self.pool.call("tickBitmap", word)
            ticks += [((word << 8) + bit) * spacing for bit in range(256) if bits >> bit & 1]
        ticks = [t for t in ticks if low < t <= high]
        nets = [float(self.pool.call("ticks", t)[1]) for t in ticks]
        return np.array([ticks], dtype=np.int64).reshape(1, -1), np.array([nets]).reshape(1, -1)

    def twap_usd(self, window_s: int, now: int) -> float | None:
        """USD per WETH at the pool's time-weighted average tick over the last ``window_s`` seconds (pool.observe),
        or over as much history as its observations hold at block time ``now``; None when they hold none
        (cardinality 1 and a swap in the latest block): there is nothing to compare the spot price with."""
        seconds = window_s
        try:
            cumulatives, _ = self.pool.call("observe", [seconds, 0])
        except TransactionReverted:  # "OLD": the oldest observation is younger than the window
            _, _, index, cardinality, _, _, _ = self.pool.call("slot0")
            oldest = self.pool.call("observations", (index + 1) % cardinality)
            if not oldest[3]:  # not initialized: the ring has not wrapped yet, observation 0 is the oldest
                oldest = self.pool.call("observations", 0)
            seconds = now - oldest[0]
            if seconds <= 0:
                return None
            cumulatives, _ = self.pool.call("observe", [seconds, 0])
        tick = (cumulatives[1] - cumulatives[0]) / seconds
        return float(WETH_UNIT / USDC_UNIT / 1.0001**tick)
