"""The Uniswap V2 market on an EVM rung: the local market's real USDC/WETH pair and Router02 (the
``ChainUniswapV2Pair`` component), driven as ``sim_v2`` drives the simulator (same price path, same noise
orders, same arbitrage rule). The chain, the market build and the episode snapshots are the V3 chain world's."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.drivers.base import PriceDriver
from envs.evm.chain import Chain
from envs.units import MAX_UINT256
from envs.worlds import v2_market as v2m
from envs.worlds.chain_world import AGENT, ARBITRAGEUR, NOISE, ChainUniswapV3World
from envs.worlds.sim import V3WorldParams, noise_orders
from envs.worlds.v2_market import UniswapV2Market, V2WorldParams
from envs.worlds.v2_pair import ChainUniswapV2Pair

ADDRESSES = {v2m.AGENT: AGENT, v2m.ARBITRAGEUR: ARBITRAGEUR, v2m.NOISE: NOISE}  # each wallet's account


class ChainUniswapV2World(UniswapV2Market):
    """With ``book`` (attach mode) the world runs on the USDC/WETH pair and Router02 a fork already holds."""

    v2_pair: ChainUniswapV2Pair

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        params: V2WorldParams = V2WorldParams(),
        book: dict | None = None,
    ):
        self.n, self.driver, self.params, self.dt = 1, driver, params, driver.dt
        self.world = ChainUniswapV3World(
            make_chain,
            driver,
            V3WorldParams(noise_traders=params.noise_traders, noise_trade_usd=params.noise_trade_usd),
            book,
        )
        self.world.v2_pool_value_usd = params.pool_value_usd

    def close(self) -> None:
        self.world.close()

    def provenance(self) -> dict:
        """What the world ran on: the pair acted on, the chain id and the fork block."""
        return self.world.provenance() | {"pool": self.v2_pair.pair.address}

    def reset(self, rng: np.random.Generator, agent_usd: float = 100_000.0) -> None:
        w = self.world
        w.reset(rng, agent_usd)
        self.usdc, self.weth = w.usdc, w.weth
        self.v2_pair = ChainUniswapV2Pair(w.market.v2, self.usdc, self.weth, ADDRESSES.__getitem__)
        router = self.v2_pair.router
        for who in ADDRESSES.values():
            for token in (self.usdc, self.weth):
                token.approve(who, router.address)
        self.v2_pair.pair.transact("approve", router.address, MAX_UINT256, sender=AGENT)

    def move_reference(self) -> None:
        self.world.move_reference()

    def reference_price(self) -> np.ndarray:
        return self.world.reference_price()

    def agent_wallet_raw(self):
        return np.array([float(self.usdc.balance_of(AGENT))]), np.array([float(self.weth.balance_of(AGENT))])

    def noise_flow(self):
        return noise_orders(self.world.rng, 1, self.params, self.reference_price())
