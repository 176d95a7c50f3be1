"""The Uniswap V3 market on the simulator (rung 1): N worlds stepped together, no per-world loop.

Each step the reference price moves, an arbitrageur trades the pool to the edge of its no-trade
band, noise traders swap, and the LP agent's position earns fees. The pool runs in raw units
(USDC token0, 6 decimals; WETH token1, 18), converted to human units at this boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from envs.arrays import ArrayBackend, array_backend
from envs.assets.gas import action_units, gas_units
from envs.drivers.base import PriceDriver
from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE, profile_ticks
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3 import swap_kernel
from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity, get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio
from envs.units import BPS, LIQUIDITY_UNIT, Q96, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts, CurvePoint, arbitrage_profit_usd, reserves_moved
from envs.worlds.market import REBALANCE_CLOSE, UniswapV3Market, band_edge, centered_range
from envs.worlds.sandwich import FlowOrder, Legs
from envs.worlds.v3_pool import SimUniswapV3Pool


def pool_swap(
    state: v3.V3PoolState, params: v3.V3PoolParams, zero_for_one, amount_in, sqrt_price_limit, active
) -> v3.SwapResult:
    """A swap on the pool: the compiled kernel for numpy states (bit-identical to the array code and faster
    at every batch size on a CPU, ``benchmarks/sim_throughput.py``), the array code for torch."""
    swap = swap_kernel.swap if swap_kernel.applies(state) else v3.swap
    return swap(state, params, zero_for_one, amount_in, sqrt_price_limit, active)


def pool_fees(state: v3.V3PoolState, slot) -> tuple:
    """A position's fees owed (raw token0, token1), on the same path as ``pool_swap``."""
    return (swap_kernel.position_fees if swap_kernel.applies(state) else v3.position_fees)(state, slot)


@dataclass(frozen=True)
class V3WorldParams:
    """A USDC/WETH pool (USDC token0, as on mainnet) and the flow around it."""

    fee_pips: int = 500
    pool_value_usd: float = 20_000_000.0  # background liquidity, spread over the profile
    liquidity_profile: tuple[tuple[float | None, float], ...] = DEFAULT_LIQUIDITY_PROFILE
    noise_traders: int = 2  # flow="toy": uninformed swaps per step
    noise_trade_usd: float = 5_000.0  # flow="toy": median noise swap (lognormal, sigma 1)
    flow: str = "toy"  # toy (the swaps above), calibrated (fitted to a real pool: envs.flows.calibrated), or replay
    flow_file: str | None = None  # calibrated: its parameters (default: the shipped fit); replay: the events to replay
    #: LP agents, each with a position slot and a wallet of its own (``agent_usd`` at reset); 0: none, a world
    #: the other agents trade in (the Aave envs', the arbitrageur's), whose background liquidity is the profile's
    #: and the scripted LPs'
    lps: int = 1
    #: scripted LPs that re-centre: (half-width in ticks, share of pool_value_usd) each, taken from the
    #: static profile's value; each opens its range around the start price and re-centres it whenever
    #: the price leaves it, as active LPs do (the tau-reset of Fan et al. 2022 with tau = 1)
    recentering_lps: tuple[tuple[int, float], ...] = ()
    #: a just-in-time LP with ``jit_usd`` of capital (0: none): before each uninformed swap worth at least
    #: ``jit_min_swap_usd`` it mints a range of ``jit_half_width`` ticks (0: one tick spacing) around the
    #: price, and burns it after the swap, keeping its share of the swap's fee; a learning JIT LP
    #: (``envs.roles.jit_provider``) sets the share of its capital it mints with (``jit_share``)
    jit_usd: float = 0.0
    jit_min_swap_usd: float = 250_000.0
    jit_half_width: int = 0
    #: the uninformed swaps' slippage limit in basis points (None: none): each swap's minimum output is its
    #: quote on the pool as it stands when the swap comes, less this; a swap that would get less reverts,
    #: as the SwapRouter's amountOutMinimum makes it
    slippage_bps: float | None = None
    #: a sandwich searcher with ``sandwich_usd`` of capital (0: none): around each uninformed swap it front-runs
    #: in the swap's direction with the most its capital and the swap's minimum output allow, and back-runs
    #: selling what it bought, where that profits (``envs.worlds.sandwich``); a learning searcher
    #: (``envs.roles.searcher``) sets the share of that largest front-run it takes (``sandwich_share``)
    sandwich_usd: float = 0.0
    #: the priority fee (gwei) each uninformed swap bids, shown with it while it is pending
    #: (``envs.worlds.mempool``): a wallet's default tip of the order of mainnet's typical 1 gwei, not fitted
    flow_priority_fee_gwei: float = 1.0
    #: flow="replay": the share of the recorded span, [start, end] fractions, an episode runs in; each reset
    #: starts at a random time of it that leaves the episode's steps inside (None: at the first event)
    replay_window: tuple[float, float] | None = None

    def __post_init__(self):
        v3.V3PoolParams(fee_pips=self.fee_pips)  # checks the tier
        if self.lps < 0:
            raise ValueError(f"lps={self.lps} must be the number of LP agents, 0 or more")
        for half_width, share in self.recentering_lps:
            if half_width < 1 or not 0 < share < 1:
                raise ValueError(
                    f"recentering_lps entries are [half-width in ticks >= 1, share in (0, 1)], got "
                    f"{[half_width, share]}"
                )
        if self.jit_usd < 0 or self.jit_min_swap_usd < 0 or self.jit_half_width < 0:
            raise ValueError("jit_usd, jit_min_swap_usd and jit_half_width must be non-negative")
        if self.slippage_bps is not None and not 0 <= self.slippage_bps < BPS:
            raise ValueError(f"slippage_bps={self.slippage_bps} must be in [0, {BPS}) basis points, or None")
        if self.sandwich_usd < 0:
            raise ValueError(f"sandwich_usd={self.sandwich_usd} must be non-negative")
        if self.flow_priority_fee_gwei < 0:
            raise ValueError(f"flow_priority_fee_gwei={self.flow_priority_fee_gwei} must be non-negative")
        if self.recentering_share >= 1:
            raise ValueError(
                f"recentering_lps take {self.recentering_share:g} of pool_value_usd: leave the static "
                f"profile some (their shares must add up to less than 1)"
            )
        if self.pool_value_usd <= 0 or self.noise_trade_usd < 0 or self.noise_traders < 0:
            raise ValueError("pool_value_usd must be positive; noise_traders and noise_trade_usd non-negative")
        if abs(sum(share for _, share in self.liquidity_profile) - 1) > 1e-9:
            raise ValueError("liquidity_profile shares must add up to 1")
        if self.flow not in ("toy", "calibrated", "replay"):
            raise ValueError(f"flow={self.flow!r} must be 'toy', 'calibrated' or 'replay' (with flow_file: events)")
        if self.flow == "replay" and not self.flow_file:
            raise ValueError("flow=replay needs flow_file: an event file or export to replay (python -m envs.data)")
        if self.replay_window is not None and (
            len(self.replay_window) != 2 or not 0 <= self.replay_window[0] < self.replay_window[1] <= 1
        ):
            raise ValueError(
                f"replay_window={self.replay_window} must be [start, end] fractions of the recorded span, "
                f"0 <= start < end <= 1"
            )

    @property
    def recentering_share(self) -> float:
        """The share of ``pool_value_usd`` the re-centring LPs hold (the static profile holds the rest)."""
        return sum(share for _, share in self.recentering_lps)

    @property
    def scripted_lps(self) -> bool:
        """Whether the world adds scripted traders (re-centring or JIT LPs, the sandwich searcher) with wallets
        of their own to a market of its own."""
        return bool(self.recentering_lps) or self.jit_usd > 0 or self.sandwich_usd > 0

    @property
    def slots(self) -> int:
        """Position slots and wallets: the LP agents', the re-centring LPs', the searcher's, then the JIT LP's."""
        return self.lps + len(self.recentering_lps) + (self.sandwich_usd > 0) + (self.jit_usd > 0)

    @property
    def searcher_slot(self) -> int:
        """The sandwich searcher's wallet, after the re-centring LPs'."""
        return self.lps + len(self.recentering_lps)

    @property
    def jit_slot(self) -> int:
        """The JIT LP's wallet: the last slot."""
        return self.slots - 1

    def wallets_usd(self, agent_usd: float | None) -> np.ndarray:
        """(slots,) each slot's starting value: ``agent_usd`` per LP agent, its share for a re-centring LP,
        ``sandwich_usd`` for the searcher, ``jit_usd`` for the JIT LP. ``agent_usd`` is given exactly when the
        world has LP agents."""
        if self.lps and agent_usd is None:
            raise ValueError(
                f"this world has {self.lps} LP agent(s): reset(rng, agent_usd=...) gives each its starting "
                f"capital in USD; a world without an LP agent is built with V3WorldParams(lps=0)"
            )
        if not self.lps and agent_usd is not None:
            raise ValueError(
                f"this world has no LP agent (lps=0): agent_usd={agent_usd} would fund nobody; reset(rng) "
                f"without it, or build the world with V3WorldParams(lps=1) for an LP agent"
            )
        return np.array(
            [agent_usd] * self.lps
            + [self.pool_value_usd * share for _, share in self.recentering_lps]
            + ([self.sandwich_usd] if self.sandwich_usd > 0 else [])
            + ([self.jit_usd] if self.jit_usd > 0 else [])
        )


class ToyFlowParams(Protocol):
    """What the toy flow reads from a world's parameters (V3's and V2's alike)."""

    @property
    def noise_traders(self) -> int: ...

    @property
    def noise_trade_usd(self) -> float: ...


def noise_orders(rng: np.random.Generator, n: int, params: ToyFlowParams, reference_price: np.ndarray):
    """The noise traders' swaps for one step: [(sell USDC?, raw amount in)], drawn in a fixed order
    so every backend replays the same flow from the same seed."""
    orders = []
    for _ in range(params.noise_traders):
        usd = params.noise_trade_usd * np.exp(rng.standard_normal(n))
        sell_usdc = rng.random(n) < 0.5
        orders.append((sell_usdc, np.floor(np.where(sell_usdc, usd * USDC_UNIT, usd / reference_price * WETH_UNIT))))
    return orders


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


class UniswapV3World(UniswapV3Market):
    v3_pool: SimUniswapV3Pool
    #: count the scripted flows' volume in ``flow_volume_usd`` (the turnover check sets it; the env step
    #: does not pay for it otherwise)
    count_flow_volume: bool = False
    #: the block's swap accounts, where an env keeps them (``envs.worlds.block_accounting``)
    accounts: BlockAccounts | None = None

    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        backend: ArrayBackend | str = "numpy",
    ):
        self.n, self.driver, self.params, self.dt = n, driver, params, driver.dt
        self.b = array_backend(backend) if isinstance(backend, str) else backend
        self.pool_params = v3.V3PoolParams(fee_pips=params.fee_pips, max_positions=params.slots)
        self.fee_pips, self.tick_spacing = params.fee_pips, self.pool_params.tick_spacing
        self.slots, self.lp = params.slots, 0
        self.v3_pool = SimUniswapV3Pool(n, self.b)

    # --- the wallets: (N, slots) raw, the selected slot's column as wallet_usdc / wallet_weth ------------
    @property
    def wallet_usdc(self) -> np.ndarray:
        return self._usdc[:, self.lp]

    @wallet_usdc.setter
    def wallet_usdc(self, value) -> None:
        self._usdc[:, self.lp] = value

    @property
    def wallet_weth(self) -> np.ndarray:
        return self._weth[:, self.lp]

    @wallet_weth.setter
    def wallet_weth(self, value) -> None:
        self._weth[:, self.lp] = value

    def select_lp(self, lp: int) -> None:
        self._check_lp(lp)
        self.lp = lp
        self._slot = self.b.xp.full((self.n,), lp, dtype=self.b.xp.int64, device=self.b.device)

    # --- units ------------------------------------------------------------------------------
    def _np(self, x) -> np.ndarray:
        return self.b.to_numpy(x)

    def sqrt_price_of(self, usd_per_eth):
        return np.sqrt(WETH_UNIT / USDC_UNIT / usd_per_eth)

    def reference_price(self) -> np.ndarray:
        return self._reference.copy()

    @property
    def state(self) -> v3.V3PoolState:
        """The pools' batched state: the component's (``v3_pool``), which the world's swaps and positions move."""
        return self.v3_pool.state

    @state.setter
    def state(self, value: v3.V3PoolState) -> None:
        self.v3_pool.state = value

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        """Lay each world's liquidity around its own start price the way build_market mints it; fund each LP
        agent with ``agent_usd`` (given exactly when the world has LP agents) and the scripted traders."""
        b, xp, p = self.b, self.b.xp, self.params
        self.rng = rng
        self._reference = self.driver.reset(rng, self.n)
        sqrt_start = b.asarray(np.floor(self.sqrt_price_of(self._reference) * Q96) / Q96)
        center = get_tick_at_sqrt_ratio(sqrt_start)
        ticks, nets = [], []
        for half_width, share in p.liquidity_profile:
            lower, upper = profile_ticks(center, self.tick_spacing, half_width)
            usd = p.pool_value_usd * (1 - p.recentering_share) * share
            liquidity = xp.floor(
                get_liquidity_for_amounts(
                    sqrt_start,
                    get_sqrt_ratio_at_tick(lower),
                    get_sqrt_ratio_at_tick(upper),
                    b.asarray(np.full(self.n, np.floor(usd / 2 * USDC_UNIT))),
                    b.asarray(np.floor(usd / 2 / self._reference * WETH_UNIT)),
                )
            )
            ticks += [lower, upper]
            nets += [liquidity, -liquidity]
        ticks, nets = xp.stack(ticks, axis=1), xp.stack(nets, axis=1)
        order = xp.argsort(ticks, axis=1, stable=True)
        ticks, nets = xp.take_along_axis(ticks, order, axis=1), xp.take_along_axis(nets, order, axis=1)
        # ranges sharing a tick (none by default) would be merged here; the profile keeps them apart
        self.state = v3.from_arrays(xp, self.pool_params, sqrt_start, ticks, nets, b.device)
        self.fund_agents(agent_usd)

    def fund_agents(self, agent_usd: float | None) -> None:
        """Each slot's wallet, half in USDC, half in WETH at the reference (``agent_usd`` for an LP agent,
        ``V3WorldParams.wallets_usd``); the flow starts; the re-centring LPs open their ranges."""
        usd = self.params.wallets_usd(agent_usd)
        self._usdc = np.repeat(np.floor(usd / 2 * USDC_UNIT)[None, :], self.n, axis=0)
        self._weth = np.floor(usd[None, :] / 2 / self._reference[:, None] * WETH_UNIT)
        self._all = self.b.asarray(np.ones(self.n, bool), dtype=self.b.xp.bool)
        self.start_flow()
        self.flow_volume_usd = np.zeros(self.n) if self.count_flow_volume else None
        self.open_recentering()

    def move_reference(self) -> None:
        self._reference = self.driver.step()
        self.clock = self.clock + self.dt

    def arbitrage(self, mask: np.ndarray | None = None) -> None:
        """The competing arbitrageur trades each (masked) pool to the edge of its no-trade band."""
        sell_usdc, target, moving = self._band_trade()
        moving &= True if mask is None else mask
        z41 = self.b.asarray(sell_usdc, dtype=self.b.xp.bool)
        before = self._curve_before()
        result = pool_swap(
            self.state,
            self.pool_params,
            z41,
            self.b.asarray(np.where(moving, np.inf, 0.0)),
            self.b.asarray(target),
            self.b.asarray(moving, dtype=self.b.xp.bool),
        )
        self._count_volume(sell_usdc, result.amount_in)
        self._account("arbitrage", sell_usdc, result, before)

    def _curve_before(self, state: v3.V3PoolState | None = None) -> CurvePoint | None:
        """Where the pools stand before a swap on ``state`` (default: the pools) that the block's accounts
        record: None where no env keeps them or the swap is a trial on a copy."""
        recorded = self.accounts is not None and (state is None or state is self.state)
        return self.curve_point() if recorded else None

    def _account(self, group: str, sell_usdc: np.ndarray, result: v3.SwapResult, before: CurvePoint | None) -> None:
        """Record a swap of ``group`` in the block's accounts, where an env keeps them (``before``: read then)."""
        if self.accounts is None or before is None:
            return
        after = self.curve_point()
        moved = reserves_moved(before, after, *self.v3_pool.crossed_ticks(before, after))
        paid, got = self._np(result.amount_in), self._np(result.amount_out)
        self.accounts.record(group, sell_usdc, paid, got, self._reference, moved)

    def order_limit(self, sell_usdc: np.ndarray):
        """The flow's sqrt price limits (backend array): the calibrated flow's impact limit within the bounds,
        and strictly past the price as the pool requires; the bounds for the toy flow."""
        xp, z41 = self.b.xp, self.b.asarray(sell_usdc, dtype=self.b.xp.bool)
        limit = v3.default_price_limit(z41)
        impact = self.flow_price_limit(self._np(self.state.sqrt_price), sell_usdc)
        if impact is None:
            return limit
        bounded = xp.where(z41, xp.maximum(self.b.asarray(impact), limit), xp.minimum(self.b.asarray(impact), limit))
        return xp.where(bounded != self.state.sqrt_price, bounded, limit)

    def flow_legs(self, order: FlowOrder, front: np.ndarray, trial: bool, back: bool = True) -> Legs:
        """The sandwich's legs on a copy of the pools (``trial``) or on them, the searcher's wallet paying."""
        b, xp, none = self.b, self.b.xp, np.zeros(self.n)
        state = self.state.copy() if trial else self.state
        sandwiched = bool(front.any())
        front_in, front_out = self._searcher_leg(state, order.sell_usdc, front) if sandwiched else (none, none)
        before = self._curve_before(state)
        victim = pool_swap(
            state,
            self.pool_params,
            b.asarray(order.sell_usdc, dtype=xp.bool),
            b.asarray(order.raw),
            order.limit,
            b.asarray(order.raw > 0, dtype=xp.bool),
        )  # a calibrated step may hold no swap for a world
        self._account("flow", order.sell_usdc, victim, before)
        back_in, back_out = (
            self._searcher_leg(state, ~order.sell_usdc, front_out) if back and sandwiched else (none, none)
        )
        legs = Legs(front_in, front_out, self._np(victim.amount_in), self._np(victim.amount_out), back_in, back_out)
        if not trial:
            self._count_volume(order.sell_usdc, victim.amount_in)
            if sandwiched:
                self._pay_searcher(order.sell_usdc, legs)
        return legs

    def _searcher_leg(self, state: v3.V3PoolState, sell_usdc: np.ndarray, amount: np.ndarray):
        """A searcher's swap of ``amount`` (raw; none where 0) up to the price bounds: (paid, got) raw."""
        b, xp = self.b, self.b.xp
        z41 = b.asarray(sell_usdc, dtype=xp.bool)
        before = self._curve_before(state)
        result = pool_swap(
            state,
            self.pool_params,
            z41,
            b.asarray(amount),
            v3.default_price_limit(z41),
            b.asarray(amount > 0, dtype=xp.bool),
        )
        self._account("sandwich", sell_usdc, result, before)
        return self._np(result.amount_in), self._np(result.amount_out)

    def _pay_searcher(self, sell_usdc: np.ndarray, legs: Legs) -> None:
        """The searcher's wallet after a sandwich: the victim's input token paid and got back, the other
        bought and sold."""
        slot, spent, kept = self.params.searcher_slot, legs.front_in - legs.back_out, legs.front_out - legs.back_in
        self._usdc[:, slot] = self._usdc[:, slot] - np.where(sell_usdc, spent, -kept)
        self._weth[:, slot] = self._weth[:, slot] - np.where(sell_usdc, -kept, spent)

    def _count_volume(self, sell_usdc: np.ndarray, amount_in) -> None:
        """Add swaps' input, in USD at the reference price, to ``flow_volume_usd``: the scripted flows'
        volume (arbitrage and uninformed swaps) since reset, what a pool's daily volume counts."""
        if self.flow_volume_usd is None:
            return
        raw = self._np(amount_in)
        self.flow_volume_usd = self.flow_volume_usd + np.where(
            sell_usdc, raw / USDC_UNIT, raw / WETH_UNIT * self._reference
        )

    def _band_trade(self):
        """(sell USDC?, target sqrt price, worth trading?): the edge of the no-trade band, past which
        the pool fee eats an arbitrage's profit."""
        now = self._np(self.state.sqrt_price)
        target = np.floor(band_edge(now, self._reference, self.fee_pips) * Q96) / Q96
        return target < now, target, target != now

    def agent_arbitrage(self, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The agent swaps ``fraction`` of the input that would take the pool to the band's edge.
        Returns (profit in USD at the reference price, traded?)."""
        xp, b = self.b.xp, self.b
        sell_usdc, target, moving = self._band_trade()
        trading = moving & (np.asarray(fraction) > 0)
        z41, limit = b.asarray(sell_usdc, dtype=xp.bool), b.asarray(target)
        full = pool_swap(
            self.state.copy(),
            self.pool_params,
            z41,
            b.asarray(np.where(trading, np.inf, 0.0)),
            limit,
            b.asarray(trading, dtype=xp.bool),
        )  # a quote: the state's copy swaps
        amount = np.floor(self._np(full.amount_in) * np.asarray(fraction, dtype=float))
        trading &= amount > 0
        before = self._curve_before()
        result = pool_swap(
            self.state,
            self.pool_params,
            z41,
            b.asarray(np.where(trading, amount, 0.0)),
            limit,
            b.asarray(trading, dtype=xp.bool),
        )
        self._account("arbitrage", sell_usdc, result, before)
        return arbitrage_profit_usd(
            sell_usdc, self._np(result.amount_in), self._np(result.amount_out), self._reference
        ), trading

    # --- the LP agent -----------------------------------------------------------------------
    def agent_wallet(self):
        return self.wallet_usdc / USDC_UNIT, self.wallet_weth / WETH_UNIT

    def agent_range(self):
        s = self.state
        return (
            self._np(s.position_lower[:, self.lp]),
            self._np(s.position_upper[:, self.lp]),
            self._np(s.position_liquidity[:, self.lp]) / LIQUIDITY_UNIT,
        )

    def agent_position_tokens(self):
        s = self.state
        a0, a1 = get_amounts_for_liquidity(
            s.sqrt_price,
            get_sqrt_ratio_at_tick(s.position_lower[:, self.lp]),
            get_sqrt_ratio_at_tick(s.position_upper[:, self.lp]),
            s.position_liquidity[:, self.lp],
        )
        return self._np(a0) / USDC_UNIT, self._np(a1) / WETH_UNIT

    def agent_fees(self):
        f0, f1 = pool_fees(self.state, self._slot)
        return self._np(f0) / USDC_UNIT, self._np(f1) / WETH_UNIT

    def _withdraw(self, mask: np.ndarray) -> np.ndarray:
        """Take the selected LP's liquidity and fees back to its wallet in masked worlds; returns had a position?"""
        b, xp, s, pp = self.b, self.b.xp, self.state, self.pool_params
        had = (self.agent_range()[2] > 0) & mask
        if had.any():
            held = b.asarray(had, dtype=xp.bool)
            v3.modify_position(
                s,
                pp,
                self._slot,
                s.position_lower[:, self.lp],
                s.position_upper[:, self.lp],
                -s.position_liquidity[:, self.lp],
                held,
            )
            got0, got1 = v3.collect_all(s, pp, self._slot, held)
            self.wallet_usdc, self.wallet_weth = self.wallet_usdc + self._np(got0), self.wallet_weth + self._np(got1)
        return had

    def close_position(self, mask: np.ndarray) -> np.ndarray:
        return close_gas(self._withdraw(mask))

    def exchange_to_range(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> None:
        lower, upper = centered_range(self.tick(), half_width_ticks, self.tick_spacing)
        sell_usdc, paid, got = exchange_at_reference(
            self.wallet_usdc,
            self.wallet_weth,
            self._reference,
            self._np(self.state.sqrt_price),
            get_sqrt_ratio_at_tick(lower),
            get_sqrt_ratio_at_tick(upper),
        )
        paid, got = np.where(mask, paid, 0.0), np.where(mask, got, 0.0)
        self.wallet_usdc = self.wallet_usdc + np.where(sell_usdc, -paid, got)
        self.wallet_weth = self.wallet_weth + np.where(sell_usdc, got, -paid)

    def shift_wallet(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        self.wallet_usdc = self.wallet_usdc + usdc_raw
        self.wallet_weth = self.wallet_weth + weth_raw

    def rebalance(self, half_width_ticks: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, xp, s, pp = self.b, self.b.xp, self.state, self.pool_params
        mask_b = b.asarray(mask, dtype=xp.bool)
        had = self._withdraw(mask)
        lower, upper = centered_range(self.tick(), half_width_ticks, self.tick_spacing)
        sqrt_lower, sqrt_upper = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper)
        sell_usdc, amount = swap_to_range_ratio(
            self.wallet_usdc, self.wallet_weth, self._np(s.sqrt_price), sqrt_lower, sqrt_upper
        )
        swapping = mask & (amount > 0)
        z41 = b.asarray(sell_usdc, dtype=xp.bool)
        before = self._curve_before()
        result = pool_swap(
            s,
            pp,
            z41,
            b.asarray(np.where(swapping, amount, 0.0)),
            v3.default_price_limit(z41),
            b.asarray(swapping, dtype=xp.bool),
        )
        self._account("lp_rebalance", sell_usdc, result, before)
        paid, got = self._np(result.amount_in), self._np(result.amount_out)
        self.wallet_usdc = self.wallet_usdc - np.where(sell_usdc, paid, 0.0) + np.where(sell_usdc, 0.0, got)
        self.wallet_weth = self.wallet_weth - np.where(sell_usdc, 0.0, paid) + np.where(sell_usdc, got, 0.0)
        lower_b, upper_b = b.asarray(lower, dtype=xp.int64), b.asarray(upper, dtype=xp.int64)
        liquidity = xp.floor(
            get_liquidity_for_amounts(
                s.sqrt_price,
                get_sqrt_ratio_at_tick(lower_b),
                get_sqrt_ratio_at_tick(upper_b),
                b.asarray(self.wallet_usdc),
                b.asarray(self.wallet_weth),
            )
        )
        a0, a1, _ = v3.mint(s, pp, self._slot, lower_b, upper_b, liquidity, mask_b)  # a refused mint takes nothing
        self.wallet_usdc = self.wallet_usdc - np.where(mask, np.ceil(self._np(a0)), 0.0)
        self.wallet_weth = self.wallet_weth - np.where(mask, np.ceil(self._np(a1)), 0.0)
        return np.where(mask, rebalance_gas(had, swapping), 0.0)
