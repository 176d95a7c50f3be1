"""The Uniswap V3 market on an EVM rung (pyrevm or anvil): one world on a chain running the real
contracts, driven exactly as the simulator drives its worlds (same price path, same noise orders
from the same generator, same arbitrage rule), so the two can be compared step by step."""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market, MarketSpec
from envs.contracts.replay import BlockReplayer
from envs.drivers.base import PriceDriver
from envs.evm.chain import GAS_ETH, Chain, TransactionReverted
from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import LIQUIDITY_UNIT, MAX_UINT128, Q96, TICK_SPACING, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts, arbitrage_profit_usd, reserves_moved
from envs.worlds.chain_base import ChainWorld
from envs.worlds.market import WBTC_PRICE_USD, UniswapV3Market, band_edge, centered_range
from envs.worlds.sandwich import FlowOrder, Legs
from envs.worlds.sim import (
    V3WorldParams,
    close_gas,
    exchange_at_reference,
    rebalance_gas,
    swap_to_range_ratio,
)
from envs.worlds.v3_pool import ChainUniswapV3Pool

AGENT, ARBITRAGEUR, NOISE, ARBITRAGEUR_AGENT = DEV_ACCOUNTS[5], DEV_ACCOUNTS[6], DEV_ACCOUNTS[7], DEV_ACCOUNTS[8]
OFF_POOL_VENUE = "0x000000000000000000000000000000000000dEaD"  # where re-centring LPs' off-pool sales go


def slot_address(slot: int, lp_agents: int) -> str:
    """Wallet slot ``slot``'s account in a world of ``lp_agents`` LP agents: the first LP agent's is AGENT, every
    other slot's (another LP agent's, a scripted trader's) a fixed address the node lets the world use; in a
    world without LP agents no slot is AGENT's."""
    return AGENT if slot == 0 and lp_agents > 0 else f"0x{0x1A6E47 << 100 | slot:040x}"


class ChainLP(UniswapV3Market):
    """The LP agent's view of a USDC/WETH pool on a chain, and its rebalance through the real
    NonfungiblePositionManager and SwapRouter: shared by the chain world and the live adapter."""

    agent: str
    market: Market
    v3_pool: ChainUniswapV3Pool
    token_id: int | None
    max_slippage: float | None = None  # set: swaps carry amountOutMinimum = quote x (1 - max_slippage)

    def bind(self, market: Market, fee_pips: int) -> None:
        self.market, self.fee_pips, self.tick_spacing = market, fee_pips, TICK_SPACING[fee_pips]
        self.usdc, self.weth, self.pool = market.tokens["USDC"], market.tokens["WETH"], market.v3_pools[fee_pips]
        self.v3_pool = ChainUniswapV3Pool(self.pool, self.tick_spacing)

    # --- reads ------------------------------------------------------------------------------
    def _sqrt_price(self) -> float:
        return float(self.v3_pool.sqrt_price()[0])

    def wallet(self, address: str) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) ``address`` holds, whole tokens."""
        return np.array([self.usdc.balance_of(address) / USDC_UNIT]), np.array(
            [self.weth.balance_of(address) / WETH_UNIT]
        )

    def swap_from(
        self, group: str, address: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap of ``raw`` from ``address`` through the SwapRouter up to its price bounds, recorded
        as ``group``'s; returns (paid, got), raw."""
        if not mask[0] or raw[0] <= 0:
            return np.zeros(1), np.zeros(1)
        got, event = self._recorded_swap(group, address, bool(sell_usdc[0]), int(raw[0]), 0)
        paid = event["amount0"] if sell_usdc[0] else event["amount1"]
        return np.array([float(paid)]), np.array([float(got)])

    # --- the LP agent -----------------------------------------------------------------------
    def agent_wallet(self):
        return self.wallet(self.agent)

    def _position(self) -> dict | None:
        return None if self.token_id is None else self.market.v3.position(self.token_id)

    def agent_range(self):
        pos = self._position()
        if pos is None:
            return np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, bool)
        return np.array([pos["tickLower"]]), np.array([pos["tickUpper"]]), np.array([pos["liquidity"] / LIQUIDITY_UNIT])

    def agent_position_tokens(self):
        pos = self._position()
        if pos is None:
            return np.zeros(1), np.zeros(1)
        a0, a1 = get_amounts_for_liquidity(
            np.array([self._sqrt_price()]),
            get_sqrt_ratio_at_tick(np.array([pos["tickLower"]])),
            get_sqrt_ratio_at_tick(np.array([pos["tickUpper"]])),
            np.array([float(pos["liquidity"])]),
        )
        return a0 / USDC_UNIT, a1 / WETH_UNIT

    def agent_fees(self):
        if self.token_id is None:
            return np.zeros(1), np.zeros(1)
        owed0, owed1 = self.market.v3.position_manager.call(
            "collect", (self.token_id, self.agent, MAX_UINT128, MAX_UINT128), sender=self.agent
        )  # what collect would pay now
        return np.array([owed0 / USDC_UNIT]), np.array([owed1 / WETH_UNIT])

    def _withdraw(self) -> bool:
        """Decrease the position's liquidity to 0, collect it with its fees, burn the NFT; had one?"""
        if self.token_id is None:
            return False
        v3 = self.market.v3
        liquidity = v3.position(self.token_id)["liquidity"]
        if liquidity > 0:
            v3.decrease_liquidity(self.agent, self.token_id, liquidity)
        v3.collect(self.agent, self.token_id)
        v3.burn(self.agent, self.token_id)
        self.token_id = None
        return True

    def close_position(self, mask: np.ndarray) -> np.ndarray:
        return close_gas(np.array([bool(mask[0]) and self._withdraw()]))

    def exchange_to_range(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> None:
        """Off the pool: what the LP pays goes to an account outside the market, what it gets is minted."""
        if not mask[0]:
            return
        lower, upper = centered_range(self.tick(), half_width_ticks, self.tick_spacing)
        sell_usdc, paid, got = exchange_at_reference(
            np.array([float(self.usdc.balance_of(self.agent))]),
            np.array([float(self.weth.balance_of(self.agent))]),
            self.reference_price(),
            np.array([self._sqrt_price()]),
            get_sqrt_ratio_at_tick(lower),
            get_sqrt_ratio_at_tick(upper),
        )
        pay, receive = (self.usdc, self.weth) if sell_usdc[0] else (self.weth, self.usdc)
        if paid[0] > 0:
            pay.contract.transact("transfer", OFF_POOL_VENUE, int(paid[0]), sender=self.agent)
        if got[0] > 0:
            receive.mint(self.agent, int(got[0]))

    def shift_wallet(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """What leaves the wallet goes to the account outside the market; what comes back is minted."""
        for token, raw in ((self.usdc, int(usdc_raw[0])), (self.weth, int(weth_raw[0]))):
            if raw < 0:
                token.contract.transact("transfer", OFF_POOL_VENUE, -raw, sender=self.agent)
            elif raw > 0:
                token.mint(self.agent, raw)

    def rebalance(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if not mask[0]:
            return np.zeros(1)
        v3 = self.market.v3
        had = self._withdraw()
        lower, upper = (int(t[0]) for t in centered_range(self.tick(), half_width_ticks, self.tick_spacing))
        sell_usdc, amount = swap_to_range_ratio(
            np.array([float(self.usdc.balance_of(self.agent))]),
            np.array([float(self.weth.balance_of(self.agent))]),
            np.array([self._sqrt_price()]),
            get_sqrt_ratio_at_tick(np.array([lower])),
            get_sqrt_ratio_at_tick(np.array([upper])),
        )
        swapped = amount[0] > 0
        if swapped:
            self._recorded_swap("lp_rebalance", self.agent, bool(sell_usdc[0]), int(amount[0]), 0)
        try:
            position = v3.mint(
                self.agent,
                self.usdc,
                self.weth,
                self.fee_pips,
                lower,
                upper,
                self.usdc.balance_of(self.agent),
                self.weth.balance_of(self.agent),
            )
            self.token_id = position.token_id
        except TransactionReverted:  # e.g. a wallet too small to mint any liquidity: the simulator refuses it too
            self.token_id = None
        return rebalance_gas(np.array([had]), np.array([swapped]))

    def _recorded_swap(self, group: str, who: str, sell_usdc: bool, raw: int, limit_x96: int, min_out: int = 0):
        """A swap that the block's accounts record as ``group``'s, where a world keeps them (here: none)."""
        return self._swap(who, sell_usdc, raw, limit_x96, min_out)

    def _swap(self, who: str, sell_usdc: bool, raw: int, limit_x96: int, min_out: int = 0):
        a, b = (self.usdc, self.weth) if sell_usdc else (self.weth, self.usdc)
        if who == self.agent and self.max_slippage is not None:  # protect the agent's own swaps
            quote = self.market.v3.quote_exact_input_single(a, b, self.fee_pips, raw, limit_x96)["amount_out"]
            min_out = int(quote * (1 - self.max_slippage))
        return self.market.v3.exact_input_single(who, a, b, self.fee_pips, raw, min_out, limit_x96)


class ChainUniswapV3World(ChainWorld, ChainLP):
    """The Uniswap V3 market on a chain (``ChainWorld``): the LP agents and scripted traders in wallet slots,
    the arbitrageur and the flow, the block's replayed transactions with ``replay``."""

    aave_supply_usd: float = 50_000_000.0  # what the market seeds each Aave reserve with
    v2_pool_value_usd: float = 10_000_000.0  # what it deposits into the USDC/WETH V2 pair
    #: the block's swap accounts, where an env keeps them (``envs.worlds.block_accounting``)
    accounts: BlockAccounts | None = None

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        book: dict | None = None,
        replay: tuple[str, int, int | None] | None = None,
    ):
        self.params = params
        self.slots, self.lp, self.agent = params.slots, 0, slot_address(0, params.lps)
        self.fee_pips, self.tick_spacing = params.fee_pips, TICK_SPACING[params.fee_pips]
        if book is not None and params.scripted_lps:
            raise ValueError(
                "env.recentering_lps, env.jit_usd and env.sandwich_usd add scripted traders to a market of our "
                "own; an attached market has its real ones: leave them out with backend.market=attach"
            )
        super().__init__(make_chain, driver, book)
        self.token_id: int | None = None
        self._token_ids: list[int | None] = []  # each LP's position, while another LP is selected
        #: (the forked chain's URL, blocks a step, the agent's priority fee in wei or None): each step re-sends that
        #: many of its next blocks, the first block's transactions that outbid the agent before the agent acts
        self.replay_blocks = 0 if replay is None else replay[1]
        self.priority_fee_wei = None if replay is None else replay[2]
        self._replayer = None if replay is None else BlockReplayer(replay[0], self.chain, self.fork_block)
        self.replayed: list = []

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        """The market at the driver's start price (built, or reverted to), each LP agent funded with ``agent_usd``
        (given exactly when the world has LP agents) and the scripted traders with theirs."""
        if self._replayer is not None:  # the fork is reverted to its start: so is the history
            self._replayer.rewind()
            self._replayer.check_available(self.replay_blocks)
            self.replayed = []
        if self.book is not None:
            return self._reset_attached(rng, agent_usd)
        price = self._start_built(rng, self._market_spec)
        self.bind(self.market, self.params.fee_pips)
        for slot, usd in enumerate(self.params.wallets_usd(agent_usd)):
            self.usdc.mint(self.slot_address(slot), int(np.floor(usd / 2 * USDC_UNIT)))
            self.weth.mint(self.slot_address(slot), int(np.floor(usd / 2 / price * WETH_UNIT)))
        self._token_ids = [None] * self.slots
        self.lp, self.agent, self.token_id = 0, self.slot_address(0), None
        self.start_flow()
        self.open_recentering()

    def slot_address(self, slot: int) -> str:
        """Wallet slot ``slot``'s account (``slot_address``)."""
        return slot_address(slot, self.params.lps)

    def select_lp(self, lp: int) -> None:
        self._check_lp(lp)
        self._token_ids[self.lp] = self.token_id
        self.lp, self.agent, self.token_id = lp, self.slot_address(lp), self._token_ids[lp]

    def _fund_traders(self) -> None:
        m = self.market
        slots = [self.slot_address(slot) for slot in range(self.slots)]
        for who in slots + [ARBITRAGEUR, NOISE, ARBITRAGEUR_AGENT]:
            if (who in slots and who != AGENT) or self.book is not None:  # a fork's accounts hold what it gave them
                self.chain.set_balance(who, GAS_ETH)
            for token in (m.tokens["USDC"], m.tokens["WETH"]):
                if who not in slots:
                    self._credit(token, who, 10 ** (token.decimals + 12))
                token.approve(who, m.v3.router.address)
                token.approve(who, m.v3.position_manager.address)

    def _market_spec(self, price: float) -> MarketSpec:
        """The market this world builds at ``price``: its pool's tier and liquidity, the Aave reserves' and the V2
        pair's seed."""
        p = self.params
        return MarketSpec(
            prices_usd={"USDC": 1.0, "WETH": price, "WBTC": WBTC_PRICE_USD},
            v3_fee_tiers=(p.fee_pips,),
            v3_pool_value_usd=p.pool_value_usd * (1 - p.recentering_share),
            liquidity_profile=p.liquidity_profile,
            aave_supply_usd=self.aave_supply_usd,
            v2_pool_value_usd=self.v2_pool_value_usd,
        )

    # --- attach mode: the market already on a forked chain ------------------------------------
    def _reset_attached(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """The fork's market as the book names it (``ChainWorld._start_attached``), the LP agents funded; the
        book's contracts are used as they are: nothing is deployed."""
        self._start_attached(rng)
        self.bind(self.market, self.fee_pips)
        for slot, usd in enumerate(self.params.wallets_usd(agent_usd)):  # the LP agents': no scripted trader here
            self._credit(self.usdc, self.slot_address(slot), int(np.floor(usd / 2 * USDC_UNIT)))
            self._credit(self.weth, self.slot_address(slot), int(np.floor(usd / 2 / self._anchor * WETH_UNIT)))
        self._token_ids = [None] * self.slots
        self.lp, self.agent, self.token_id = 0, self.slot_address(0), None
        self.start_flow()

    def _attached_price(self) -> float:
        """The attached USDC/WETH pool's price at the world's fee tier (USDC must be its token0)."""
        if self.fee_pips not in self.market.v3_pools:
            raise ValueError(
                f"address book {self.book.get('name') if self.book else None!r} has no USDC/WETH pool at fee "
                f"{self.fee_pips}: set env.fee_pips to one of {sorted(self.market.v3_pools)}"
            )
        self.bind(self.market, self.fee_pips)
        if self.pool.call("token0").lower() != self.usdc.address.lower():
            raise ValueError(
                f"pool {self.pool.address}: token0 is not the book's USDC; the LP world needs a "
                f"USDC/WETH pool with USDC as token0 (as on Ethereum mainnet)"
            )
        return float(self.pool_price()[0])

    def provenance(self) -> dict:
        """What the world ran on, for reports: the pool it acted on, the chain id, the block it started from."""
        return {
            "market": "deploy" if self.book is None else "attach",
            "addresses": None if self.book is None else self.book.get("name"),
            "pool": self.pool.address,
            "fee_pips": self.fee_pips,
            "chain_id": self.chain.chain_id,
            "fork_block": self.fork_block if getattr(self.chain, "fork_point", None) else None,
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

    def move_reference(self) -> None:
        super().move_reference()
        self.clock = self.clock + self.dt

    def arbitrage(self, mask: np.ndarray | None = None) -> None:
        sell_usdc, target_x96 = self._band_trade()
        if target_x96 is not None and (mask is None or mask[0]):
            budget = (self.usdc if sell_usdc else self.weth).balance_of(ARBITRAGEUR)
            self._recorded_swap("arbitrage", ARBITRAGEUR, sell_usdc, budget, target_x96)

    def _recorded_swap(self, group: str, who: str, sell_usdc: bool, raw: int, limit_x96: int, min_out: int = 0):
        """A swap recorded in the block's accounts as ``group``'s, where an env keeps them."""
        if self.accounts is None:
            return self._swap(who, sell_usdc, raw, limit_x96, min_out)
        before = self.curve_point()
        out, event = self._swap(who, sell_usdc, raw, limit_x96, min_out)
        after = self.curve_point()
        moved = reserves_moved(before, after, *self.v3_pool.crossed_ticks(before, after))
        paid = float(event["amount0"] if sell_usdc else event["amount1"])
        self.accounts.record(
            group, np.array([sell_usdc]), np.array([paid]), np.array([float(out)]), self._reference, moved
        )
        return out, event

    def order_limit(self, sell_usdc: np.ndarray) -> int:
        """The flow's sqrtPriceLimitX96 from the pool's price now (0: none, the router's bounds)."""
        limit = self.flow_price_limit(np.array([self._sqrt_price()]), sell_usdc)
        return 0 if limit is None else int(limit[0] * Q96)

    def flow_legs(self, order: FlowOrder, front: np.ndarray, trial: bool, back: bool = True) -> Legs:
        """The sandwich's legs through the SwapRouter, the swap carrying its minimum as amountOutMinimum (the
        searcher keeps it there); a swap that reverts trades nothing, as the simulator's; a ``trial`` is undone
        (a snapshot reverted to)."""
        snapshot = self.chain.snapshot() if trial else None
        sell, searcher = bool(order.sell_usdc[0]), self.slot_address(self.params.searcher_slot)
        front_in = front_out = back_in = back_out = 0
        swap = self._swap if trial else partial(self._recorded_swap, "flow")
        if front[0] > 0:
            front_in, front_out = self._searcher_leg(searcher, sell, int(front[0]), trial)
        minimum = 0 if trial else int(order.min_out[0])  # a trial reads what the swap would get, limit or not
        try:
            victim_out, event = swap(NOISE, sell, int(order.raw[0]), order.limit, minimum)
        except TransactionReverted:  # e.g. a front-run took the price past the swap's limit ('SPL'), as in the pool
            victim_out, event = 0, {"amount0": 0, "amount1": 0}
        if back and front_out > 0:
            back_in, back_out = self._searcher_leg(searcher, not sell, front_out, trial)
        if snapshot is not None:
            self.chain.revert(snapshot)
        legs = (front_in, front_out, event["amount0"] if sell else event["amount1"], victim_out, back_in, back_out)
        return Legs(*(np.array([float(x)]) for x in legs))

    def _searcher_leg(self, searcher: str, sell_usdc: bool, raw: int, trial: bool) -> tuple[int, int]:
        """A searcher's swap of ``raw`` up to the router's price bounds (recorded unless a ``trial``): (paid, got) raw."""
        swap = self._swap if trial else partial(self._recorded_swap, "sandwich")
        got, event = swap(searcher, sell_usdc, raw, 0)
        return event["amount0"] if sell_usdc else event["amount1"], got

    def _band_trade(self) -> tuple[bool, int | None]:
        """(sell USDC?, the band edge in Q64.96, or None when the pool is inside the band)."""
        now_x96 = self.v3_pool.sqrt_price_x96()
        now = now_x96 / Q96
        target = float(band_edge(np.array([now]), self._reference[:1], self.fee_pips)[0])
        target_x96 = int(np.floor(target * Q96))
        return target < now, (target_x96 if target_x96 != now_x96 and target != now else None)

    def agent_arbitrage(self, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sell_usdc, target_x96 = self._band_trade()
        if target_x96 is None or fraction[0] <= 0:
            return np.zeros(1), np.zeros(1, bool)
        snap = self.chain.snapshot()  # how much input reaches the band's edge: try it, then undo
        _, full = self._swap(
            ARBITRAGEUR_AGENT,
            sell_usdc,
            (self.usdc if sell_usdc else self.weth).balance_of(ARBITRAGEUR_AGENT),
            target_x96,
        )
        self.chain.revert(snap)
        needed = full["amount0"] if sell_usdc else full["amount1"]
        amount = int(np.floor(float(needed) * float(fraction[0])))
        if amount <= 0:
            return np.zeros(1), np.zeros(1, bool)
        out, event = self._recorded_swap("arbitrage", ARBITRAGEUR_AGENT, sell_usdc, amount, target_x96)
        paid = event["amount0"] if sell_usdc else event["amount1"]
        return arbitrage_profit_usd(
            np.array([sell_usdc]), np.array([float(paid)]), np.array([float(out)]), self._reference
        ), np.array([True])
