"""The Uniswap V3 market on an EVM rung (pyrevm or anvil): one world on a chain running the real
contracts, driven exactly as the simulator drives its worlds (same price path, same noise orders
from the same generator, same arbitrage rule), so the two can be compared step by step. With ``lending``, the
world holds a lending side over the chain's lending pool (``envs.worlds.chain_lending``). The world holds its chain
(``envs.worlds.chain_site``); its pool is bound as the live adapter binds its own (``bind_v3_pool``)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from envs.contracts.accounts import AGENT, ARBITRAGEUR, ARBITRAGEUR_AGENT, BORROWER_AGENT, NOISE
from envs.contracts.market import Market, MarketSpec
from envs.contracts.replay import BlockReplayer
from envs.drivers.base import PriceDriver
from envs.evm.chain import GAS_ETH, Chain
from envs.units import TICK_SPACING, USDC_UNIT, WETH_UNIT
from envs.worlds.chain_site import ChainSite, wallet_account
from envs.worlds.ledger import ChainLedger
from envs.worlds.lending import AGENT as AGENT_WALLET
from envs.worlds.lending import LendingParams, check_wallet
from envs.worlds.lending_pool import Credit
from envs.worlds.market import WBTC_PRICE_USD, UniswapV3Market
from envs.worlds.sim import V3WorldParams
from envs.worlds.v2_pair import ChainUniswapV2Pair
from envs.worlds.v2_pair_side import pair_beside
from envs.worlds.v3_pool import ChainUniswapV3Pool, Wallet
from envs.worlds.v3_pool_side import chain_pool, v3_pool_beside


def slot_address(slot: int, lp_agents: int) -> str:
    """Wallet slot ``slot``'s account in a world of ``lp_agents`` LP agents: the first LP agent's is AGENT, every
    other slot's (another LP agent's, a scripted trader's) a fixed address the node lets the world use; in a
    world without LP agents no slot is AGENT's."""
    return AGENT if slot == 0 and lp_agents > 0 else f"0x{0x1A6E47 << 100 | slot:040x}"


def bind_v3_pool(
    market: Market, fee_pips: int, address: Callable[[Wallet], str], credit: Credit | None = None
) -> tuple[ChainUniswapV3Pool, ChainLedger]:
    """The pool component of ``fee_pips`` and the ledger on ``market``'s contracts, each wallet the account
    ``address(wallet)`` names; ``credit`` gives what comes into a wallet off the market (None: nobody, on a live
    chain). The chain world and the live adapter bind their pool through it."""
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    pool = ChainUniswapV3Pool(market.v3, market.v3_pools[fee_pips], usdc, weth, fee_pips, address)
    return pool, ChainLedger(usdc, weth, address, credit)


class ChainUniswapV3World(UniswapV3Market):
    """The Uniswap V3 market on a chain (the ``ChainSite`` it holds, ``site``): the LP agents and scripted traders
    in wallet slots, the arbitrageur and the flow, the block's replayed transactions with ``replay``; with
    ``lending``, a lending side over the chain's lending pool of its protocol (Aave V3's Pool, or a Morpho Blue market
    deployed beside the built market). Attached (``book``), the lending side runs on the Aave market the fork holds,
    its WETH oracle made to follow the reference price (``ChainLendingSides.prepare``)."""

    n = 1
    v3_pool: ChainUniswapV3Pool
    ledger: ChainLedger
    v2_pool_value_usd: float = 10_000_000.0  # what the market deposits into the USDC/WETH V2 pair

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        book: dict | None = None,
        replay: tuple[str, int, int | None] | None = None,
        lending: LendingParams | Sequence[LendingParams] | None = None,
    ):
        self.params = params
        self.slots, self.lp = params.slots, 0
        self.fee_pips, self.tick_spacing = params.fee_pips, TICK_SPACING[params.fee_pips]
        if book is not None and (params.scripted_lps or params.v2_pair_usd > 0 or params.v3_pool_beside_usd > 0):
            raise ValueError(
                "env.recentering_lps, env.jit_usd, env.sandwich_usd, env.v2_pair_usd and env.v3_pool_beside_usd add "
                "scripted traders or a pool to a market of our own; an attached market has its real ones: leave them "
                "out with backend.market=attach"
            )
        self.site = ChainSite(make_chain, driver, book, lending, replay is not None)
        self.driver, self.dt, self.chain, self.book = driver, driver.dt, self.site.chain, book
        self.path = self.site.path
        #: (the forked chain's URL, blocks a step, the agent's priority fee in wei or None): each step re-sends that
        #: many of its next blocks, the first block's transactions that outbid the agent before the agent acts
        self.replay_blocks = 0 if replay is None else replay[1]
        self.priority_fee_wei = None if replay is None else replay[2]
        self._replayer = None if replay is None else BlockReplayer(replay[0], self.chain, self.site.fork_block)
        self.replayed: list = []

    def close(self) -> None:
        self.site.close()

    # --- episode ----------------------------------------------------------------------------
    def start(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """The market at the driver's start price (built, or reverted to; attached: the fork's market as the book
        names it, its contracts used as they are), each LP agent funded with ``agent_usd`` (given exactly when the
        world has LP agents) and, on a market of our own, the scripted traders with theirs."""
        self.rng = rng
        if self._replayer is not None:  # the fork is reverted to its start: so is the history
            self._replayer.rewind()
            self._replayer.check_available(self.replay_blocks)
            self.replayed = []
        price = self.site.start(rng, self._market_spec, self._attached_price, self._fund_traders)
        self.bind(self.site.market)
        for slot, usd in enumerate(self.params.wallets_usd(agent_usd)):
            self.site.credit(self.usdc, self.slot_address(slot), int(np.floor(usd / 2 * USDC_UNIT)))
            self.site.credit(self.weth, self.slot_address(slot), int(np.floor(usd / 2 / price * WETH_UNIT)))
        self.lp = 0
        self.start_flow()
        self.open_recentering()

    def bind(self, market: Market) -> None:
        """The pool, the ledger and the components the world holds (the V2 pair beside the pool, the lending sides),
        on ``market``'s contracts."""
        self.market = market
        self.v3_pool, self.ledger = bind_v3_pool(market, self.fee_pips, self._address, self.site.credit)
        self.usdc, self.weth, self.pool = self.v3_pool.usdc, self.v3_pool.weth, self.v3_pool.pool
        beside = pair_beside(
            self, self.params.v2_pair(), lambda: ChainUniswapV2Pair(market.v2, self.usdc, self.weth, self._address)
        ) + v3_pool_beside(self, self.params.v3_pool_beside(), chain_pool(market, self._address))
        self.components = beside + self.site.bind_lending(self, self._address)

    # --- the wallets --------------------------------------------------------------------------
    def slot_address(self, slot: int) -> str:
        """Wallet slot ``slot``'s account (``slot_address``)."""
        return slot_address(slot, self.params.lps)

    @property
    def agent(self) -> str:
        """The selected slot's account."""
        return self.slot_address(self.lp)

    def _address(self, wallet: Wallet) -> str:
        """A wallet's account: a slot's (``slot_address``), or a named wallet's (``wallet_account``; the LP agent's is
        the selected LP slot's)."""
        if isinstance(wallet, int):
            return self.slot_address(wallet)
        if wallet == AGENT_WALLET:
            check_wallet(wallet, self.params.lps)
            return self.agent
        return wallet_account(wallet)

    def _fund_traders(self) -> None:
        m = self.site.market
        slots = [self.slot_address(slot) for slot in range(self.slots)]
        for who in slots + [ARBITRAGEUR, NOISE, ARBITRAGEUR_AGENT]:
            if (who in slots and who != AGENT) or self.book is not None:  # a fork's accounts hold what it gave them
                self.chain.set_balance(who, GAS_ETH)
            for token in (m.tokens["USDC"], m.tokens["WETH"]):
                if who not in slots:
                    self.site.credit(token, who, 10 ** (token.decimals + 12))
                token.approve(who, m.v3.router.address)
                token.approve(who, m.v3.position_manager.address)
        extra = (
            [(BORROWER_AGENT, m.v3.router)] if self.site.lending_sides.sides else []
        )  # the borrower swaps on the pool
        if self.params.v2_pair_usd > 0:  # the pair's arbitrageur and noise traders trade through Router02
            extra += [(ARBITRAGEUR, m.v2.router), (NOISE, m.v2.router)]
            if self.site.lending_sides.route:  # and so may the lending side's traders
                extra += [(who, m.v2.router) for who in [AGENT, ARBITRAGEUR_AGENT, BORROWER_AGENT]]
        for who, spender in extra:
            for token in (m.tokens["USDC"], m.tokens["WETH"]):
                token.approve(who, spender.address)
        self.site.prepare_lending([AGENT] if self.params.lps else [])

    def _market_spec(self, price: float) -> MarketSpec:
        """The market this world builds at ``price``: its pool's tier and liquidity (and the V3 pool's beside it),
        the Aave reserves' and the V2 pair's seed."""
        p, other = self.params, self.params.v3_pool_beside()
        return MarketSpec(
            prices_usd={"USDC": 1.0, "WETH": price, "WBTC": WBTC_PRICE_USD},
            v3_fee_tiers=(p.fee_pips,) + (() if other is None else (other.fee_pips,)),
            v3_pool_value_usd=p.pool_value_usd * (1 - p.recentering_share),
            v3_pools_laid=() if other is None else ((other.fee_pips, other.pool_value_usd, other.liquidity_profile),),
            liquidity_profile=p.liquidity_profile,
            aave_supply_usd=self.site.lending_sides.supply_usd(),
            v2_pool_value_usd=p.v2_pair_usd or self.v2_pool_value_usd,
        )

    def _attached_price(self) -> float:
        """The attached USDC/WETH pool's price at the world's fee tier (USDC must be its token0)."""
        market = self.site.market
        if self.fee_pips not in market.v3_pools:
            raise ValueError(
                f"address book {self.book.get('name') if self.book else None!r} has no USDC/WETH pool at fee "
                f"{self.fee_pips}: set env.fee_pips to one of {sorted(market.v3_pools)}"
            )
        self.bind(market)
        if self.pool.call("token0").lower() != self.usdc.address.lower():
            raise ValueError(
                f"pool {self.pool.address}: token0 is not the book's USDC; the LP world needs a "
                f"USDC/WETH pool with USDC as token0 (as on Ethereum mainnet)"
            )
        return float(self.pool_price()[0])

    def provenance(self) -> dict:
        """What the world ran on, for reports (``ChainSite.provenance``), with the pool it acted on and the blocks
        it replayed."""
        return self.site.provenance() | {
            "pool": self.pool.address,
            "fee_pips": self.fee_pips,
            "replay_blocks": self.replay_blocks,
            "replayed_txs": len(self.replayed),
        }

    def before_agent_acts(self) -> None:
        """With ``replay`` and the agent's priority fee: the transactions of the step's first block that paid
        more than the agent go before the agent's (the env calls this before the agent acts)."""
        if self._replayer is not None and self.priority_fee_wei is not None:
            self.replayed += self._replayer.ahead_of(self.priority_fee_wei)

    def step(self) -> None:
        """The chain's own next blocks first (with ``replay``), after the agent's transactions of this step
        (those of the first block that outbid the agent went before it); then the reference moves and the
        scripted flow trades."""
        if self._replayer is not None:
            self.replayed += self._replayer.replay(self.replay_blocks)
        super().step()
