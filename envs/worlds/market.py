"""The scripted market around a USDC/WETH Uniswap V3 pool, whatever the backend: the simulator (numpy, torch) or a
chain (evm, anvil). The arbitrage, the uninformed flow with its sandwich and JIT LP and the re-centring LPs are
written once here, over the wallet slots and the pool component (``UniswapV3Accounts``), as is when the lending side
a world may hold (``envs.worlds.lending``) starts, follows the price and acts; a backend gives the component, keeps
the wallets, and starts the episode (where the reference path starts; ``World`` moves it)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from envs.evm.chain import TransactionReverted
from envs.protocols.uniswap_v3.pool import MAX_PRICE_LIMIT, MIN_PRICE_LIMIT
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import FEE_DENOMINATOR, Q96, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import arbitrage_profit_usd
from envs.worlds.mempool import Mempool
from envs.worlds.sandwich import FlowOrder, Legs, largest_front_run, minimum_out
from envs.worlds.toy_flow import noise_orders
from envs.worlds.v3_accounts import UniswapV3Accounts, centered_range, swap_to_range_ratio
from envs.worlds.v3_pool import UniswapV3Pool
from envs.worlds.world import World

if TYPE_CHECKING:
    from envs.worlds.sim import V3WorldParams

#: the scripted accounts that trade the pool (wallet slots are ints): the arbitrageur, the uninformed flow, the
#: account the arbitrage agent trades from, and the traders' (each trader keeps its own book)
ARBITRAGEUR_WALLET, FLOW_WALLET, AGENT_ARBITRAGE_WALLET = "arbitrageur", "noise", "agent_arbitrageur"
TRADER_WALLET = "trader"


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


class UniswapV3Market(World, UniswapV3Accounts):
    """A USDC/WETH pool with an arbitrageur, noise traders, and wallet slots (``UniswapV3Accounts``): the LP agents'
    (none in a world built with ``V3WorldParams.lps=0``), then the scripted traders' (``V3WorldParams.slots``), and
    the lending side a world may hold beside its pool (``World``). A backend gives the episode's start (``start``),
    which starts the reference's path (``World.path``)."""

    params: V3WorldParams
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

    @property
    def lp_agents(self) -> int:
        """The LP agents among the slots (``V3WorldParams.lps``)."""
        return self.params.lps

    def pool_flows(self) -> None:
        """The arbitrageur trades, the noise traders swap, the re-centring LPs whose range the price left re-centre
        it (``World.step`` runs them after the reference moves, before the lending side)."""
        self.arbitrage()
        self.noise()
        self.recenter()

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

    def _recentering(self) -> list[tuple[int, int]]:
        """(slot, half-width in ticks) of each re-centring LP."""
        return [(self.params.lps + i, int(w)) for i, (w, _) in enumerate(self.params.recentering_lps)]

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

    def arbitrage(self, mask: np.ndarray | None = None) -> None:
        """The competing arbitrageur trades (masked) pools to the edge of their no-trade band."""
        sell_usdc, target, moving = band_target(self.v3_pool, self.reference_price(), self.fee_pips)
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
        sell_usdc, target, moving = band_target(self.v3_pool, self.reference_price(), self.fee_pips)
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


#: the WBTC price the worlds build the local market with (a reserve of the Aave market nobody uses here)
WBTC_PRICE_USD = 60_000.0


def band_target(pool: UniswapV3Pool, reference: np.ndarray, fee_pips: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sell USDC?, target sqrt price, worth trading?) of an arbitrage on ``pool``: to the edge of its no-trade band
    (``band_edge``), on the Q64.96 grid."""
    now = pool.sqrt_price()
    target = np.floor(band_edge(now, reference, fee_pips) * Q96) / Q96
    return target < now, target, target != now


def band_edge(sqrt_price: np.ndarray, reference: np.ndarray, fee_pips: int) -> np.ndarray:
    """The sqrt price (raw WETH per raw USDC) an arbitrage takes the pool to: the nearest edge of the no-trade
    band around the reference, sqrt(reference) x sqrt(1 - fee)^(+-1), past which the pool's fee eats its
    profit; the pool's own price when it is inside the band. Every backend's arbitrage aims here."""
    fee = fee_pips / FEE_DENOMINATOR
    sqrt_ref = np.sqrt(WETH_UNIT / USDC_UNIT / np.asarray(reference, dtype=float))
    return np.clip(sqrt_price, sqrt_ref * np.sqrt(1 - fee), sqrt_ref / np.sqrt(1 - fee))
