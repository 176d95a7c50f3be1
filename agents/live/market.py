"""The roles' view of a live chain: the same reads the chain worlds give them in evaluation
(envs.backends.chain_world.ChainLP, envs.backends.chain_lending.ChainLending), with the reference
price from the on-chain oracle."""
from __future__ import annotations

import numpy as np

from envs.backends.chain import Chain
from envs.backends.chain_lending import ChainLending
from envs.backends.chain_world import ChainLP
from envs.chain.market import attach_market


class LiveUniswapV3Market(ChainLP):
    """One world: the agent's account on ``chain``, the USDC/WETH pool of ``fee_pips``."""

    def __init__(self, chain: Chain, addresses: dict, agent: str, fee_pips: int, dt: float):
        self.chain, self.agent, self.n, self.dt = chain, agent, 1, dt
        self.bind(attach_market(chain, addresses), fee_pips)
        self.token_id = self.find_position()

    def find_position(self) -> int | None:
        """The agent's newest position in this pool that still holds liquidity (NonfungiblePositionManager enumeration)."""
        npm = self.market.v3.position_manager
        for i in reversed(range(npm.call("balanceOf", self.agent))):
            token_id = npm.call("tokenOfOwnerByIndex", self.agent, i)
            pos = self.market.v3.position(token_id)
            pair = {pos["token0"].lower(), pos["token1"].lower()}
            if pos["fee"] == self.fee_pips and pos["liquidity"] > 0 and pair == {self.usdc.address.lower(),
                                                                                 self.weth.address.lower()}:
                return token_id
        return None

    def reference_price(self) -> np.ndarray:
        """ETH/USD from the Aave oracle (a Chainlink-style feed, 8 decimals)."""
        return np.array([self.market.aave.price(self.weth) / 1e8])

    def reset(self, rng, agent_usd):
        raise RuntimeError("a live market is not reset: it is the chain as it is")

    def move_reference(self):
        raise RuntimeError("a live market moves by itself: read it again at the next block")

    arbitrage = noise = move_reference

    def agent_arbitrage(self, fraction):
        raise RuntimeError("the live adapter runs the LP and borrower roles only")


class LiveAaveMarket(LiveUniswapV3Market, ChainLending):
    """The borrower's view of a live chain: its Aave account through the real Pool and oracle, and the
    USDC/WETH pool it swaps through (envs.backends.chain_lending.ChainLending's reads and actions)."""

    def __init__(self, chain: Chain, addresses: dict, agent: str, fee_pips: int, dt: float):
        super().__init__(chain, addresses, agent, fee_pips, dt)
        self.borrower = agent  # live, the one account is the borrower
