"""The Uniswap V2 market on an EVM rung: the local market's real USDC/WETH pair and Router02, driven
as ``sim_v2`` drives the simulator (same price path, same noise orders, same arbitrage rule). The
chain, the market build and the episode snapshots are the V3 chain world's."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.drivers.base import PriceDriver
from envs.evm.chain import DEADLINE, Chain
from envs.units import MAX_UINT256
from envs.worlds.chain_world import AGENT, ARBITRAGEUR, NOISE, ChainUniswapV3World
from envs.worlds.sim import V3WorldParams, noise_orders
from envs.worlds.v2_market import UniswapV2Market, V2WorldParams

WALLETS = {"agent": AGENT, "arbitrageur": ARBITRAGEUR, "noise": NOISE}


class ChainUniswapV2World(UniswapV2Market):
    """With ``book`` (attach mode) the world runs on the USDC/WETH pair and Router02 a fork already holds."""

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
        return self.world.provenance() | {"pool": self.pair.address}

    def reset(self, rng: np.random.Generator, agent_usd: float = 100_000.0) -> None:
        w = self.world
        w.reset(rng, agent_usd)
        self.usdc, self.weth, self.v2 = w.usdc, w.weth, w.market.v2
        self.router, self.pair = self.v2.router, self.v2.pair(self.usdc, self.weth)
        for who in WALLETS.values():
            for token in (self.usdc, self.weth):
                token.approve(who, self.router.address)
        self.pair.transact("approve", self.router.address, MAX_UINT256, sender=AGENT)

    def move_reference(self) -> None:
        self.world.move_reference()

    def reference_price(self) -> np.ndarray:
        return self.world.reference_price()

    def reserves(self):
        r0, r1, _ = self.pair.call("getReserves")  # USDC sorts below WETH: token0
        return np.array([float(r0)]), np.array([float(r1)])

    def shares(self):
        return np.array([float(self.pair.call("balanceOf", AGENT))]), np.array([float(self.pair.call("totalSupply"))])

    def agent_wallet_raw(self):
        return np.array([float(self.usdc.balance_of(AGENT))]), np.array([float(self.weth.balance_of(AGENT))])

    def swap(self, who, sell_usdc, raw, mask):
        if not mask[0] or raw[0] <= 0:
            return np.zeros(1), np.zeros(1)
        token_in, token_out = (self.usdc, self.weth) if sell_usdc[0] else (self.weth, self.usdc)
        got = self.v2.swap_exact_in(WALLETS[who], token_in, token_out, int(raw[0]))
        return np.array([float(int(raw[0]))]), np.array([float(got)])

    def add_liquidity(self, usdc_raw, weth_raw, mask):
        if mask[0]:
            self.router.transact(
                "addLiquidity",
                self.usdc.address,
                self.weth.address,
                int(usdc_raw[0]),
                int(weth_raw[0]),
                0,
                0,
                AGENT,
                DEADLINE,
                sender=AGENT,
            )

    def remove_liquidity(self, shares_raw, mask):
        if mask[0] and shares_raw[0] > 0:
            self.router.transact(
                "removeLiquidity",
                self.usdc.address,
                self.weth.address,
                int(shares_raw[0]),
                0,
                0,
                AGENT,
                DEADLINE,
                sender=AGENT,
            )

    def noise_flow(self):
        return noise_orders(self.world.rng, 1, self.params, self.reference_price())
