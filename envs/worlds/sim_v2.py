"""The Uniswap V2 market on the simulator: N USDC/WETH pairs stepped together (envs.protocols.uniswap_v2)
on numpy or torch, seeded as ``build_market`` seeds the local mainnet's pair. The pairs live on the
array backend; amounts cross this boundary as numpy (N,) raw units."""

from __future__ import annotations

import numpy as np

from envs.arrays import ArrayBackend, array_backend
from envs.drivers.base import PriceDriver
from envs.protocols.uniswap_v2 import pair
from envs.protocols.uniswap_v2.pair import V2PairState
from envs.units import USDC_UNIT, WETH_UNIT
from envs.worlds.sim import noise_orders
from envs.worlds.v2_market import UniswapV2Market, V2WorldParams


class UniswapV2World(UniswapV2Market):
    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V2WorldParams = V2WorldParams(),
        backend: ArrayBackend | str = "numpy",
    ):
        self.n, self.driver, self.params, self.dt = n, driver, params, driver.dt
        self.b = array_backend(backend) if isinstance(backend, str) else backend

    def reset(self, rng: np.random.Generator, agent_usd: float = 100_000.0) -> None:
        self.rng = rng
        self._reference = self.driver.reset(rng, self.n)
        half = self.params.pool_value_usd / 2
        usdc, weth = np.full(self.n, np.floor(half * USDC_UNIT)), np.floor(half / self._reference * WETH_UNIT)
        b = self.b  # the first mint's shares, the locked ones included, as the pair counts them
        self.pair = V2PairState(b.asarray(usdc), b.asarray(weth), b.asarray(np.floor(np.sqrt(usdc * weth))))
        self.wallet_usdc = np.full(self.n, np.floor(agent_usd / 2 * USDC_UNIT))
        self.wallet_weth = np.floor(agent_usd / 2 / self._reference * WETH_UNIT)
        self.my_shares = np.zeros(self.n)

    def move_reference(self) -> None:
        self._reference = self.driver.step()

    def reference_price(self) -> np.ndarray:
        return self._reference.copy()

    def reserves(self):
        return self.b.to_numpy(self.pair.reserve0).copy(), self.b.to_numpy(self.pair.reserve1).copy()

    def shares(self):
        return self.my_shares.copy(), self.b.to_numpy(self.pair.total_supply).copy()

    def agent_wallet_raw(self):
        return self.wallet_usdc.copy(), self.wallet_weth.copy()

    def swap(self, who, sell_usdc, raw, mask):
        b = self.b
        paid = np.where(mask, raw, 0.0)
        got = b.to_numpy(
            pair.swap(
                self.pair, b.asarray(sell_usdc, dtype=b.xp.bool), b.asarray(paid), b.asarray(mask, dtype=b.xp.bool)
            )
        )
        if who == "agent":
            self.wallet_usdc = self.wallet_usdc + np.where(sell_usdc, -paid, got)
            self.wallet_weth = self.wallet_weth + np.where(sell_usdc, got, -paid)
        return paid, got

    def add_liquidity(self, usdc_raw, weth_raw, mask):
        b = self.b
        shares, used0, used1 = (
            b.to_numpy(x)
            for x in pair.mint(self.pair, b.asarray(usdc_raw), b.asarray(weth_raw), b.asarray(mask, dtype=b.xp.bool))
        )
        self.wallet_usdc, self.wallet_weth = self.wallet_usdc - used0, self.wallet_weth - used1
        self.my_shares = self.my_shares + shares

    def remove_liquidity(self, shares_raw, mask):
        b = self.b
        got0, got1 = (
            b.to_numpy(x) for x in pair.burn(self.pair, b.asarray(shares_raw), b.asarray(mask, dtype=b.xp.bool))
        )
        self.wallet_usdc, self.wallet_weth = self.wallet_usdc + got0, self.wallet_weth + got1
        self.my_shares = self.my_shares - np.where(mask, shares_raw, 0.0)

    def noise_flow(self):
        return noise_orders(self.rng, self.n, self.params, self._reference)
