"""The Uniswap V2 market on the simulator: N USDC/WETH pairs stepped together (envs.protocols.uniswap_v2),
seeded as ``build_market`` seeds the local mainnet's pair."""
from __future__ import annotations

import numpy as np

from envs.backends.sim import USDC_UNIT, WETH_UNIT, noise_orders
from envs.backends.v2_market import UniswapV2Market, V2WorldParams
from envs.drivers.base import PriceDriver
from envs.protocols.uniswap_v2 import pair
from envs.protocols.uniswap_v2.pair import V2PairState


class UniswapV2World(UniswapV2Market):
    def __init__(self, n: int, driver: PriceDriver, params: V2WorldParams = V2WorldParams()):
        self.n, self.driver, self.params, self.dt = n, driver, params, driver.dt

    def reset(self, rng: np.random.Generator, agent_usd: float = 100_000.0) -> None:
        self.rng = rng
        self._reference = self.driver.reset(rng, self.n)
        half = self.params.pool_value_usd / 2
        usdc, weth = np.full(self.n, np.floor(half * USDC_UNIT)), np.floor(half / self._reference * WETH_UNIT)
        self.pair = V2PairState(usdc, weth, np.floor(np.sqrt(usdc * weth)))  # the first mint's shares, locked ones too
        self.wallet_usdc = np.full(self.n, np.floor(agent_usd / 2 * USDC_UNIT))
        self.wallet_weth = np.floor(agent_usd / 2 / self._reference * WETH_UNIT)
        self.my_shares = np.zeros(self.n)

    def move_reference(self) -> None:
        self._reference = self.driver.step()

    def reference_price(self) -> np.ndarray:
        return self._reference.copy()

    def reserves(self):
        return self.pair.reserve0.copy(), self.pair.reserve1.copy()

    def shares(self):
        return self.my_shares.copy(), self.pair.total_supply.copy()

    def agent_wallet_raw(self):
        return self.wallet_usdc.copy(), self.wallet_weth.copy()

    def swap(self, who, sell_usdc, raw, mask):
        paid = np.where(mask, raw, 0.0)
        got = pair.swap(self.pair, sell_usdc, paid, mask)
        if who == "agent":
            self.wallet_usdc = self.wallet_usdc + np.where(sell_usdc, -paid, got)
            self.wallet_weth = self.wallet_weth + np.where(sell_usdc, got, -paid)
        return paid, got

    def add_liquidity(self, usdc_raw, weth_raw, mask):
        shares, used0, used1 = pair.mint(self.pair, usdc_raw, weth_raw, mask)
        self.wallet_usdc, self.wallet_weth = self.wallet_usdc - used0, self.wallet_weth - used1
        self.my_shares = self.my_shares + shares

    def remove_liquidity(self, shares_raw, mask):
        got0, got1 = pair.burn(self.pair, shares_raw, mask)
        self.wallet_usdc, self.wallet_weth = self.wallet_usdc + got0, self.wallet_weth + got1
        self.my_shares = self.my_shares - np.where(mask, shares_raw, 0.0)

    def noise_flow(self):
        return noise_orders(self.rng, self.n, self.params, self._reference)
