"""The one interface the Uniswap V3 roles use, whatever the backend: the simulator (numpy, torch)
or a chain (evm, anvil). Arrays are numpy (N,) in human units: USD, whole tokens, ticks. Everything the market
does on its pool (the arbitrage, the flow and its sandwich, the LP agents' and scripted LPs' positions) is written
once here, over the pool component (``v3_pool``); a backend gives the component and keeps the wallets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator

import numpy as np

from envs.assets.gas import action_units, gas_units
from envs.drivers.base import PriceDriver
from envs.evm.chain import TransactionReverted
from envs.protocols.uniswap_v3.pool import MAX_PRICE_LIMIT, MIN_PRICE_LIMIT
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import FEE_DENOMINATOR, LIQUIDITY_UNIT, MAX_TICK, Q96, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts, CurvePoint, arbitrage_profit_usd, reserves_moved
from envs.worlds.ledger import Ledger
from envs.worlds.mempool import Mempool
from envs.worlds.sandwich import FlowOrder, Legs, largest_front_run, minimum_out
from envs.worlds.v3_pool import UniswapV3Pool, Wallet

if TYPE_CHECKING:
    from envs.worlds.lending import LendingMarket
    from envs.worlds.sim import V3WorldParams

#: the NonfungiblePositionManager and SwapRouter calls a rebalance makes, for gas
REBALANCE_CLOSE = ("v3_decrease_liquidity", "v3_collect", "v3_burn")
#: the scripted accounts that trade the pool (wallet slots are ints): the arbitrageur, the uninformed flow, and
#: the account the arbitrage agent trades from
ARBITRAGEUR_WALLET, FLOW_WALLET, AGENT_ARBITRAGE_WALLET = "arbitrageur", "noise", "agent_arbitrageur"


def close_gas(had_position: np.ndarray) -> np.ndarray:
    return had_position * float(action_units(*REBALANCE_CLOSE))


def rebalance_gas(had_position: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    g = gas_units()
    return (close_gas(had_position) + swapped * g["v3_swap"] + g["v3_mint"]).astype(float)


def swap_to_range_ratio(usdc_raw, weth_raw, sqrt_price, sqrt_lower, sqrt_upper):
    """How much to sell (and which way) so the wallet holds a range's token ratio at the pool price
    (impact and fee aside: the mint takes what fits and leaves the rest idle)."""
    per_l0 = (sqrt_upper - sqrt_price) / (sqrt_price * sqrt_upper)  # USDC per unit of liquidity
    per_l1 = sqrt_price - sqrt_lower  # WETH per unit of liquidity
    value1 = usdc_raw * sqrt_price**2 + weth_raw  # in raw WETH at the pool price
    want_usdc = value1 / (per_l0 * sqrt_price**2 + per_l1) * per_l0
    sell_usdc = usdc_raw > want_usdc
    amount = np.where(sell_usdc, usdc_raw - want_usdc, weth_raw - (value1 - want_usdc * sqrt_price**2))
    return sell_usdc, np.floor(np.clip(amount, 0.0, None))


def exchange_at_reference(usdc_raw, weth_raw, reference, sqrt_price, sqrt_lower, sqrt_upper):
    """(sell USDC?, paid, got) in raw units: a re-centring LP trading its wallet to the token ratio a range
    needs at the pool's price, off the pool at the reference price (as active LPs rebalance their
    inventory on other venues), so re-centring moves the pool only by what it mints."""
    sell_usdc, paid = swap_to_range_ratio(usdc_raw, weth_raw, sqrt_price, sqrt_lower, sqrt_upper)
    got = np.where(
        sell_usdc,
        np.floor(paid / USDC_UNIT / reference * WETH_UNIT),
        np.floor(paid / WETH_UNIT * reference * USDC_UNIT),
    )
    return sell_usdc, paid, got


class UniswapV3Market(ABC):
    """A USDC/WETH pool with an arbitrageur, noise traders, and wallet slots: the LP agents' (none in a world
    built with ``V3WorldParams.lps=0``), then the scripted traders' (``V3WorldParams.slots``). The ``agent_*``
    methods and ``rebalance`` act for the selected slot (``select_lp``; the first unless told)."""

    n: int  # worlds
    params: V3WorldParams
    v3_pool: UniswapV3Pool  # the pool, as every backend reads it
    ledger: Ledger  # the wallets: each slot's, and the scripted accounts' a world books
    driver: PriceDriver
    rng: np.random.Generator
    fee_pips: int
    tick_spacing: int
    dt: float  # seconds per step
    slots: int = 1  # wallet slots: the LP agents', then the scripted traders'
    lp: int = 0  # the selected one
    sandwich_profit_usd: np.ndarray  # (N,) the sandwich searcher's profit in the last step's flow
    sandwich_legs: np.ndarray  # (N,) the front-runs and back-runs the searcher sent in it (two a sandwich)
    #: (N,) or scalar: the share of its largest front-run the sandwich searcher takes (a searcher agent sets it)
    sandwich_share: np.ndarray | float = 1.0
    jit_fees_usd: np.ndarray  # (N,) the JIT LP's fees in the last step's flow, at the reference price
    jit_round_trips: np.ndarray  # (N,) the mints (each burnt after its swap) the JIT LP made in it
    #: (N,) or scalar: the share of its capital the JIT LP mints with (0: it stays out; a JIT agent sets it)
    jit_share: np.ndarray | float = 1.0
    _jit_held: tuple[np.ndarray, np.ndarray] | None = None  # raw capital held back from the open JIT mint
    #: the next block's uninformed swaps, drawn before it (``draw_pending``; None: the block draws them itself)
    pending: Mempool | None = None
    #: the block's swap accounts, where an env keeps them (``envs.worlds.block_accounting``)
    accounts: BlockAccounts | None = None
    #: the lending side, where the world holds a lending pool beside its pool (``envs.worlds.lending``): ``step``
    #: runs its scripted flows after the pool's; a world that holds one also calls its ``reset`` after its own and
    #: its ``follow`` after the reference moves (``LendingWorld``, ``ChainLendingWorld``)
    lending: LendingMarket | None = None
    #: (N,) the scripted flows' swap volume in USD since reset, where a world counts it (the turnover check)
    flow_volume_usd: np.ndarray | None = None
    _trying: bool = False  # inside ``trying``: swaps are undone, booked to nobody, recorded nowhere

    def select_lp(self, lp: int) -> None:
        """Make slot ``lp`` (LP agent ``lp``, or a scripted trader's slot after them) the one the ``agent_*``
        methods and ``rebalance`` act for."""
        if not 0 <= lp < self.slots:
            raise ValueError(
                f"LP {lp} does not exist: this market has {self.slots} wallet slot(s), its LP agents' and "
                f"scripted traders'"
            )
        self.lp = lp

    @property
    def lp_agents(self) -> int:
        """The LP agents among the slots (``V3WorldParams.lps``)."""
        return self.params.lps

    @abstractmethod
    def reset(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """Start the price paths, lay the pools' liquidity, fund each LP agent with ``agent_usd``, half USDC,
        half WETH (None: a world without LP agents, ``V3WorldParams.lps=0``), and the scripted traders."""

    def step(self) -> None:
        """The reference price moves, the arbitrageur trades, the noise traders swap, the re-centring LPs
        whose range the price left re-centre it; then the lending side's scripted liquidator and borrowers, where
        the world has one."""
        self.move_reference()
        self.arbitrage()
        self.noise()
        self.recenter()
        if self.lending is not None:
            self.lending.step()

    # --- the re-centring LPs (V3WorldParams.recentering_lps): slots after the LP agents' -----------------
    def open_recentering(self) -> None:
        """At reset, once their wallets are funded: each re-centring LP opens its range at the start price;
        then the first slot is selected (the first LP agent's, where the world has one)."""
        for slot, half_width in self._recentering():
            self.select_lp(slot)
            self.rebalance(np.full(self.n, half_width), np.ones(self.n, bool))
        if self.slots:
            self.select_lp(0)

    def recenter(self) -> None:
        """Each re-centring LP whose range the price has left withdraws and re-opens it around the price."""
        selected = self.lp
        for slot, half_width in self._recentering():
            self.select_lp(slot)
            lower, upper, liquidity = self.agent_range()
            tick = self.tick()
            out = (liquidity > 0) & ((tick < lower) | (tick >= upper))
            if out.any():
                widths = np.full(self.n, half_width)
                self.close_position(out)
                self.exchange_to_range(widths, out)
                self.rebalance(widths, out)
        if self.params.recentering_lps:
            self.select_lp(selected)

    def exchange_to_range(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> None:
        """The selected LP's wallet traded, off the pool at the reference price, to the token ratio of a
        range of ``half_width_ticks`` around the current tick (``exchange_at_reference``)."""
        lower, upper = centered_range(self.tick(), half_width_ticks, self.tick_spacing)
        sell_usdc, paid, got = exchange_at_reference(
            *self.wallet_raw(self.lp),
            self.reference_price(),
            self.v3_pool.sqrt_price(),
            get_sqrt_ratio_at_tick(lower),
            get_sqrt_ratio_at_tick(upper),
        )
        paid, got = np.where(mask, paid, 0.0), np.where(mask, got, 0.0)
        self.shift_wallet(np.where(sell_usdc, -paid, got), np.where(sell_usdc, got, -paid))

    # --- the JIT LP (V3WorldParams.jit_usd): the last slot ------------------------------------------------
    def jit_mint(self, sell_usdc: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
        """Before an uninformed swap: in worlds where it is worth ``jit_min_swap_usd`` or more and ``jit_share``
        is positive, the JIT LP holds back the rest of its capital, trades its inventory to the range's ratio off
        the pool and mints around the price, one more round trip in ``jit_round_trips``. Returns where it did
        (None: nowhere)."""
        p = self.params
        if p.jit_usd <= 0:
            return None
        usd = np.where(sell_usdc, raw / USDC_UNIT, raw / WETH_UNIT * self.reference_price())
        share = np.broadcast_to(np.asarray(self.jit_share, dtype=float), (self.n,))
        big = (raw > 0) & (usd >= p.jit_min_swap_usd) & (share > 0)
        self.jit_round_trips = self.jit_round_trips + big
        if not big.any():
            return None
        selected, width = self.lp, np.full(self.n, p.jit_half_width or self.tick_spacing)
        self.select_lp(p.jit_slot)
        self._jit_held = self.hold_back(np.where(big, 1 - share, 0.0))
        self.exchange_to_range(width, big)
        self.rebalance(width, big)
        self.select_lp(selected)
        return big

    def hold_back(self, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Take ``fraction`` of each token out of the selected LP's wallet, so it mints with the rest; returns
        the raw amounts to give back (None where nothing was held: share 1 leaves the wallet untouched)."""
        if not (fraction > 0).any():
            return None
        usdc, weth = self.wallet_raw(self.lp)
        held = np.floor(fraction * usdc), np.floor(fraction * weth)
        self.shift_wallet(-held[0], -held[1])
        return held

    def jit_burn(self, minted: np.ndarray | None) -> None:
        """After the swap: the JIT LP withdraws what it minted, with its share of the swap's fee (counted in
        ``jit_fees_usd``), and takes back the capital it held."""
        if minted is None:
            return
        selected = self.lp
        self.select_lp(self.params.jit_slot)
        fees0, fees1 = self.agent_fees()
        self.jit_fees_usd = self.jit_fees_usd + np.where(minted, fees0 + fees1 * self.reference_price(), 0.0)
        self.close_position(minted)
        if self._jit_held is not None:
            self.shift_wallet(*self._jit_held)
        self.select_lp(selected)

    # --- the wallets: the slots' (an int each) and the scripted accounts' (a name each), in the ledger -----
    def wallet_raw(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) raw in wallet slot ``slot``."""
        return self.ledger.balances(slot)

    def slot_wallet(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) in wallet slot ``slot`` (a scripted trader's), whole tokens."""
        usdc, weth = self.wallet_raw(slot)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def shift_wallet(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """Add signed raw amounts to the selected LP's wallet, off the market (capital held back and returned)."""
        self.ledger.shift(self.lp, usdc_raw, weth_raw)

    # --- swaps on the pool ------------------------------------------------------------------
    @contextmanager
    def trying(self) -> Iterator[None]:
        """Swaps in this context are tried on the pool and undone at its end: nobody's wallet books them, the
        block's accounts do not record them."""
        self._trying = True
        try:
            with self.v3_pool.trial():
                yield
        finally:
            self._trying = False

    def trade(
        self,
        group: str,
        wallet: Wallet,
        sell_usdc: np.ndarray,
        raw: np.ndarray,
        limit: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        min_out: np.ndarray | None = None,
        count: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap from ``wallet`` on the pool (``UniswapV3Pool.swap``), booked to the wallet and
        recorded in the block's accounts as ``group``'s (where an env keeps them), its input counted in
        ``flow_volume_usd`` with ``count``; returns (paid, got), raw."""
        mask = np.ones(self.n, bool) if mask is None else mask
        accounts = None if self._trying else self.accounts
        before = None if accounts is None else self.curve_point()
        paid, got = self.v3_pool.swap(wallet, sell_usdc, raw, limit, mask, min_out)
        if self._trying:
            return paid, got
        if accounts is not None and before is not None:
            after = self.curve_point()
            moved = reserves_moved(before, after, *self.v3_pool.crossed_ticks(before, after))
            accounts.record(group, sell_usdc, paid, got, self.reference_price(), moved)
        self.ledger.moved(wallet, np.where(sell_usdc, -paid, got), np.where(sell_usdc, got, -paid))
        if count and self.flow_volume_usd is not None:  # what a pool's daily volume counts
            self.flow_volume_usd = self.flow_volume_usd + np.where(
                sell_usdc, paid / USDC_UNIT, paid / WETH_UNIT * self.reference_price()
            )
        return paid, got

    def _recentering(self) -> list[tuple[int, int]]:
        """(slot, half-width in ticks) of each re-centring LP."""
        return [(self.params.lps + i, int(w)) for i, (w, _) in enumerate(self.params.recentering_lps)]

    @abstractmethod
    def move_reference(self) -> None: ...

    # --- the uninformed flow (V3WorldParams.flow) --------------------------------------------------------
    def start_flow(self) -> None:
        """At reset: the flow's state, no sandwich taken yet nor swap pending, and each world's clock (the driver's
        timestamps where it has them)."""
        from envs.flows.calibrated import CalibratedFlow, FlowParams

        self.clear_flow_take()
        self.pending = None  # an earlier episode's swaps are not this one's
        stamps = getattr(self.driver, "timestamps", None)
        self.clock = np.asarray(stamps(), dtype=float) if callable(stamps) else np.zeros(self.n)
        self._flow = None  # toy; a replaying world applies its recorded events itself
        if self.params.flow == "calibrated":
            self._flow = CalibratedFlow(
                FlowParams.load(self.params.flow_file) if self.params.flow_file else FlowParams.load()
            )
            self._flow.reset()

    def active_liquidity(self) -> np.ndarray:
        """(N,) the pools' active liquidity, raw."""
        return self.v3_pool.liquidity()

    def flow_orders(self) -> list:
        """This step's uninformed swaps, [(sell USDC?, raw amount in)]: the toy flow, or the calibrated one
        (its volume follows the pool's active liquidity and the hour of day of each world's clock)."""
        from envs.worlds.sim import noise_orders

        if self._flow is None:
            return noise_orders(self.rng, self.n, self.params, self.reference_price())
        return self._flow.raw_orders(
            self.rng,
            self.n,
            self.active_liquidity(),
            self.clock // 3600 % 24,
            self.dt,
            self.reference_price(),
            USDC_UNIT,
            WETH_UNIT,
        )

    def flow_price_limit(self, sqrt_price: np.ndarray, sell_usdc: np.ndarray) -> np.ndarray | None:
        """Each flow swap's sqrt price limit (Q64.96, as a float): the calibrated flow's impact limit from
        ``sqrt_price``, the price before it; None for the toy flow (no limit)."""
        if self._flow is None:
            return None
        keep = np.sqrt(1.0 - self._flow.params.impact_limit)  # USDC in moves the sqrt price down, WETH in up
        return np.floor(np.where(sell_usdc, sqrt_price * keep, sqrt_price / keep) * Q96) / Q96

    def _band_trade(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sell USDC?, target sqrt price, worth trading?): the edge of the no-trade band, past which the pool fee
        eats an arbitrage's profit, on the Q64.96 grid."""
        now = self.v3_pool.sqrt_price()
        target = np.floor(band_edge(now, self.reference_price(), self.fee_pips) * Q96) / Q96
        return target < now, target, target != now

    def arbitrage(self, mask: np.ndarray | None = None) -> None:
        """The competing arbitrageur trades (masked) pools to the edge of their no-trade band."""
        sell_usdc, target, moving = self._band_trade()
        moving &= True if mask is None else mask
        self.trade(
            "arbitrage", ARBITRAGEUR_WALLET, sell_usdc, np.where(moving, np.inf, 0.0), target, moving, count=True
        )

    def draw_pending(self) -> None:
        """Draw the next block's uninformed swaps now, as its ``pending`` (``envs.worlds.mempool``): from the pool
        and reference as they stand, what the block would draw when its flow trades if nothing moved them before.
        A replaying world's flow is its recorded events: none pending."""
        p = self.params
        self.pending = (
            Mempool.empty(self.n)
            if p.flow == "replay"
            else Mempool.of(
                self.flow_orders(), self.n, self.reference_price(), p.slippage_bps, p.flow_priority_fee_gwei
            )
        )

    def execute_pending(self, where: np.ndarray) -> None:
        """Run the pending swaps not yet run, in turn, in the worlds of ``where``: each with the JIT LP's range and
        the searcher's sandwich around it where they act (their take counted from the block's first such run in
        ``sandwich_profit_usd`` and ``jit_fees_usd``, their transactions in ``sandwich_legs`` and
        ``jit_round_trips``). Without swaps drawn before the block, it draws them now."""
        if self.pending is None:
            self.draw_pending()
        pending = self.pending
        assert pending is not None
        if not pending.started:
            self.clear_flow_take()
            pending.started = True
        for k in range(pending.k):
            sell_usdc, raw = pending.column(k, where)
            if not (raw > 0).any():  # a calibrated step may hold no swap
                continue
            jit = self.jit_mint(sell_usdc, raw)
            self.flow_swap(sell_usdc, raw)
            self.jit_burn(jit)

    def clear_flow_take(self) -> None:
        """No take, fee or transaction of the searcher and the JIT LP counted yet: a block's flow counts its own."""
        self.sandwich_profit_usd, self.jit_fees_usd = np.zeros(self.n), np.zeros(self.n)
        self.sandwich_legs, self.jit_round_trips = np.zeros(self.n), np.zeros(self.n)

    def noise(self) -> None:
        """The block's uninformed swaps still pending, in turn (``execute_pending`` in every world); then none is
        pending until the next block's are drawn."""
        self.execute_pending(np.ones(self.n, bool))
        self.pending = None

    # --- slippage limits and the sandwich searcher (V3WorldParams.slippage_bps, sandwich_usd) --------------
    def flow_swap(self, sell_usdc: np.ndarray, raw: np.ndarray) -> None:
        """One uninformed swap with its minimum output (its quote on the pool as it stands, less
        ``slippage_bps``), sandwiched by the searcher where that pays (its legs that traded counted in
        ``sandwich_legs``)."""
        p, none = self.params, np.zeros(self.n)
        order = FlowOrder(sell_usdc, raw, self.order_limit(sell_usdc), none)
        if p.slippage_bps is not None:
            quote = self.flow_legs(order, none, trial=True, back=False).victim_out
            order = replace(order, min_out=minimum_out(quote, p.slippage_bps))
        front = self.sandwich_front_run(order) if p.sandwich_usd > 0 else none
        legs = self.flow_legs(order, front, trial=False)
        if p.sandwich_usd > 0:  # the step's flow pays nothing for a searcher the world does not have
            self.sandwich_profit_usd = self.sandwich_profit_usd + legs.searcher_usd(sell_usdc, self.reference_price())
            self.sandwich_legs = self.sandwich_legs + legs.sent()

    def sandwich_front_run(self, order: FlowOrder) -> np.ndarray:
        """(N,) the searcher's front-run, raw (0: it stays out): ``sandwich_share`` of the most of its capital
        that leaves the victim its minimum output, where the whole sandwich then profits at the reference price."""
        usdc, weth = self.wallet_raw(self.params.searcher_slot)
        held = np.where(order.sell_usdc, usdc, weth)
        front = np.floor(
            self.sandwich_share
            * largest_front_run(
                np.where(order.raw > 0, held, 0.0),
                order.min_out,
                lambda amount: self.flow_legs(order, amount, trial=True, back=False).victim_out,
            )
        )
        gain = self.flow_legs(order, front, trial=True).searcher_usd(order.sell_usdc, self.reference_price())
        return np.where(gain > 0, front, 0.0)

    def order_limit(self, sell_usdc: np.ndarray) -> np.ndarray | None:
        """The flow's sqrt price limits from the pool's price now: the calibrated flow's impact limit within the
        pool's bounds, and strictly past the price as the pool requires; None (the bounds) for the toy flow."""
        now = self.v3_pool.sqrt_price()
        impact = self.flow_price_limit(now, sell_usdc)
        if impact is None:
            return None
        bound = np.where(sell_usdc, MIN_PRICE_LIMIT, MAX_PRICE_LIMIT)
        bounded = np.where(sell_usdc, np.maximum(impact, bound), np.minimum(impact, bound))
        return np.where(bounded != now, bounded, bound)

    def flow_legs(self, order: FlowOrder, front: np.ndarray, trial: bool, back: bool = True) -> Legs:
        """The searcher's front-run of ``front`` (raw; none where 0), the uninformed swap with its minimum output,
        then (``back``) the back-run selling what the front-run bought: on the pools, or tried and undone
        (``trial``, which reads what the swap would get, minimum or not)."""
        none, sell = np.zeros(self.n), order.sell_usdc
        searcher, sandwiched = self.params.searcher_slot, bool(front.any())
        with self.trying() if trial else nullcontext():
            front_in, front_out = (
                self.trade("sandwich", searcher, sell, front, None, front > 0) if sandwiched else (none, none)
            )
            try:
                victim_in, victim_out = self.trade(
                    "flow",
                    FLOW_WALLET,
                    sell,
                    order.raw,
                    order.limit,
                    order.raw > 0,
                    None if trial else order.min_out,
                    count=True,
                )  # a calibrated step may hold no swap for a world
            except TransactionReverted:  # on a chain, e.g. a front-run took the price past its limit: nothing traded
                victim_in, victim_out = none, none
            back_in, back_out = (
                self.trade("sandwich", searcher, ~sell, front_out, None, front_out > 0)
                if back and sandwiched
                else (none, none)
            )
        return Legs(front_in, front_out, victim_in, victim_out, back_in, back_out)

    def agent_arbitrage(self, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The agent swaps ``fraction`` of what would take the pool to its band's edge:
        (profit in USD at the reference price before gas, traded?)."""
        sell_usdc, target, moving = self._band_trade()
        trading = moving & (np.asarray(fraction) > 0)
        with self.trying():  # a quote: how much input reaches the band's edge
            full, _ = self.trade(
                "arbitrage", AGENT_ARBITRAGE_WALLET, sell_usdc, np.where(trading, np.inf, 0.0), target, trading
            )
        amount = np.floor(full * np.asarray(fraction, dtype=float))
        trading &= amount > 0
        paid, got = self.trade(
            "arbitrage", AGENT_ARBITRAGE_WALLET, sell_usdc, np.where(trading, amount, 0.0), target, trading
        )
        return arbitrage_profit_usd(sell_usdc, paid, got, self.reference_price()), trading

    @abstractmethod
    def reference_price(self) -> np.ndarray: ...

    def pool_price(self) -> np.ndarray:
        """USD per WETH at each pool's price."""
        return self.v3_pool.price()

    def tick(self) -> np.ndarray:
        return self.v3_pool.tick()

    def curve_point(self) -> CurvePoint:
        """Where each pool stands on its liquidity curve."""
        return self.v3_pool.curve_point()

    # --- the selected LP's position, through the component ------------------------------------------------
    def agent_wallet(self) -> tuple[np.ndarray, np.ndarray]:
        """Idle (USDC, WETH) the agent holds outside the pool."""
        return self.slot_wallet(self.lp)

    def agent_range(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower tick, upper tick, liquidity in whole-token units sqrt(USDC * WETH); 0 without a position)."""
        lower, upper, liquidity = self.v3_pool.position(self.lp)
        return lower, upper, liquidity / LIQUIDITY_UNIT

    def agent_position_tokens(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) the agent's liquidity is worth at the pool price, fees excluded."""
        usdc, weth = self.v3_pool.position_tokens(self.lp)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def agent_fees(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) fees earned and not yet collected."""
        usdc, weth = self.v3_pool.fees_owed(self.lp)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def _withdraw(self, mask: np.ndarray) -> np.ndarray:
        """The selected LP's liquidity and fees back to its wallet in masked worlds; returns had a position?"""
        had, got0, got1 = self.v3_pool.withdraw(self.lp, mask)
        self.ledger.moved(self.lp, got0, got1)
        return had

    def close_position(self, mask: np.ndarray) -> np.ndarray:
        """In masked worlds: withdraw the position's liquidity and fees to the wallet and burn it.
        Returns gas used (N,)."""
        return close_gas(self._withdraw(mask))

    def rebalance(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """In masked worlds: close the position (collecting fees), swap the wallet to the new range's
        ratio, open a range of ``half_width_ticks`` around the current tick. Returns gas used (N,)."""
        slot = self.lp
        had = self._withdraw(mask)
        lower, upper = centered_range(self.tick(), half_width_ticks, self.tick_spacing)
        sell_usdc, amount = swap_to_range_ratio(
            *self.wallet_raw(slot),
            self.v3_pool.sqrt_price(),
            get_sqrt_ratio_at_tick(lower),
            get_sqrt_ratio_at_tick(upper),
        )
        swapping = mask & (amount > 0)
        self.trade("lp_rebalance", slot, sell_usdc, np.where(swapping, amount, 0.0), None, swapping)
        used0, used1 = self.v3_pool.mint(slot, lower, upper, *self.wallet_raw(slot), mask)
        self.ledger.moved(slot, -used0, -used1)
        return np.where(mask, rebalance_gas(had, swapping), 0.0)


#: the WBTC price the worlds build the local market with (a reserve of the Aave market nobody uses here)
WBTC_PRICE_USD = 60_000.0

FULL_RANGE = MAX_TICK  # a half-width that reaches TickMath's bounds: the full range


def band_edge(sqrt_price: np.ndarray, reference: np.ndarray, fee_pips: int) -> np.ndarray:
    """The sqrt price (raw WETH per raw USDC) an arbitrage takes the pool to: the nearest edge of the no-trade
    band around the reference, sqrt(reference) x sqrt(1 - fee)^(+-1), past which the pool's fee eats its
    profit; the pool's own price when it is inside the band. Every backend's arbitrage aims here."""
    fee = fee_pips / FEE_DENOMINATOR
    sqrt_ref = np.sqrt(WETH_UNIT / USDC_UNIT / np.asarray(reference, dtype=float))
    return np.clip(sqrt_price, sqrt_ref * np.sqrt(1 - fee), sqrt_ref / np.sqrt(1 - fee))


def centered_range(tick: np.ndarray, half_width: np.ndarray, spacing: int) -> tuple[np.ndarray, np.ndarray]:
    """A range of ``half_width`` ticks each side of ``tick``'s spacing cell, within the tick bounds."""
    half = np.maximum(np.asarray(half_width) // spacing, 1) * spacing
    center = np.asarray(tick) // spacing * spacing
    lowest, highest = -(FULL_RANGE // spacing) * spacing, FULL_RANGE // spacing * spacing
    return np.maximum(center - half, lowest), np.minimum(center + half + spacing, highest)
