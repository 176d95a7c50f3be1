"""The Uniswap V2 market on an EVM rung: the local market's real USDC/WETH pair and Router02 (the
``ChainUniswapV2Pair`` component) on the chain it holds (``envs.worlds.chain_site``), driven as ``sim_v2`` drives the
simulator (same price path, same noise orders, same arbitrage rule). With ``lending``, the world holds a lending side
over the chain's lending pool of its protocol (``envs.worlds.chain_lending``), trading through the pair."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from envs.contracts.accounts import AGENT, ARBITRAGEUR, ARBITRAGEUR_AGENT, BORROWER_AGENT, NOISE
from envs.contracts.market import MarketSpec
from envs.drivers.base import PriceDriver
from envs.evm.chain import GAS_ETH, Chain
from envs.units import MAX_UINT256, USDC_UNIT, WETH_UNIT
from envs.worlds.chain_site import ChainSite, wallet_account
from envs.worlds.ledger import ChainLedger
from envs.worlds.lending import LendingParams
from envs.worlds.market import WBTC_PRICE_USD
from envs.worlds.v2_market import UniswapV2Market, V2WorldParams
from envs.worlds.v2_pair import ChainUniswapV2Pair
from envs.worlds.v3_pool_side import chain_pool, v3_pool_beside


class ChainUniswapV2World(UniswapV2Market):
    """One world on a chain (the ``ChainSite`` it holds, ``site``): the market built with the pair at
    ``V2WorldParams.pool_value_usd``, or, with ``book`` (attach mode), the USDC/WETH pair and Router02 a fork already
    holds."""

    n = 1
    v2_pair: ChainUniswapV2Pair

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        params: V2WorldParams = V2WorldParams(),
        book: dict | None = None,
        lending: LendingParams | Sequence[LendingParams] | None = None,
    ):
        if book is not None and params.v3_pool_beside_usd > 0:
            raise ValueError(
                "env.v3_pool_beside_usd adds a pool to a market of our own; an attached market has its real ones: "
                "leave it out with backend.market=attach"
            )
        self.params = params
        self.site = ChainSite(make_chain, driver, book, lending)
        self.driver, self.dt, self.chain, self.book = driver, driver.dt, self.site.chain, book
        self.path = self.site.path

    def close(self) -> None:
        self.site.close()

    def provenance(self) -> dict:
        """What the world ran on (``ChainSite.provenance``), with the pair acted on."""
        return self.site.provenance() | {"pool": self.v2_pair.pair.address}

    def open_pair(self, rng: np.random.Generator, agent_usd: float) -> None:
        """The pair at the driver's start price (built, or reverted to; attached: the path starts at the pair's own
        price), the agent funded half USDC, half WETH."""
        self.rng = rng
        price = self.site.start(rng, self._market_spec, self._attached_price, self._fund_traders)
        self._bind()
        self.site.credit(self.usdc, AGENT, int(np.floor(agent_usd / 2 * USDC_UNIT)))
        self.site.credit(self.weth, AGENT, int(np.floor(agent_usd / 2 / price * WETH_UNIT)))
        beside = v3_pool_beside(self, self.params.v3_pool_beside(), chain_pool(self.market, wallet_account))
        self.components = beside + self.site.bind_lending(self, wallet_account)

    def _bind(self) -> None:
        self.market = self.site.market
        self.usdc, self.weth = self.market.tokens["USDC"], self.market.tokens["WETH"]
        self.v2_pair = ChainUniswapV2Pair(self.market.v2, self.usdc, self.weth, wallet_account)
        self.ledger = ChainLedger(self.usdc, self.weth, wallet_account, self.site.credit)

    def _market_spec(self, price: float) -> MarketSpec:
        """The local market at ``price`` with the pair this world trades; no V3 pool but the one beside the pair,
        where it holds one."""
        other = self.params.v3_pool_beside()
        return MarketSpec(
            prices_usd={"USDC": 1.0, "WETH": price, "WBTC": WBTC_PRICE_USD},
            v3_fee_tiers=() if other is None else (other.fee_pips,),
            v3_pools_laid=() if other is None else ((other.fee_pips, other.pool_value_usd, other.liquidity_profile),),
            v2_pool_value_usd=self.params.pool_value_usd,
            aave_supply_usd=self.site.lending_sides.supply_usd(),
        )

    def _fund_traders(self) -> None:
        """The arbitrageur and the noise traders credited (and, with a lending side, the learning liquidator);
        every wallet lets Router02 take its tokens (the borrower agent's too), and the agent its pair shares; then
        each lending protocol readies its pool (``ChainSite.prepare_lending``)."""
        self._bind()
        router = self.v2_pair.router
        lending = bool(self.site.lending_sides.sides)
        for who in (AGENT, ARBITRAGEUR, NOISE) + ((ARBITRAGEUR_AGENT, BORROWER_AGENT) if lending else ()):
            if self.book is not None:  # a fork's accounts hold what it gave them
                self.chain.set_balance(who, GAS_ETH)
            for token in (self.usdc, self.weth):
                if who not in (AGENT, BORROWER_AGENT):  # the agents are funded by their episodes
                    self.site.credit(token, who, 10 ** (token.decimals + 12))
                token.approve(who, router.address)
        if self.params.v3_pool_beside_usd > 0:  # the pool beside's arbitrageur and noise traders (and the lending
            # side's traders, where it routes) trade through the SwapRouter
            routing = (AGENT, ARBITRAGEUR_AGENT, BORROWER_AGENT) if self.site.lending_sides.route else ()
            for who in (ARBITRAGEUR, NOISE, *routing):
                for token in (self.usdc, self.weth):
                    token.approve(who, self.market.v3.router.address)
        self.v2_pair.pair.transact("approve", router.address, MAX_UINT256, sender=AGENT)
        self.site.prepare_lending([])

    def _attached_price(self) -> float:
        """The attached pair's price (USDC must be its token0)."""
        self._bind()
        if self.v2_pair.pair.call("token0").lower() != self.usdc.address.lower():
            raise ValueError(
                f"pair {self.v2_pair.pair.address}: token0 is not the book's USDC; the V2 world needs a USDC/WETH "
                f"pair with USDC as token0 (as on Ethereum mainnet)"
            )
        return float(self.pool_price()[0])
