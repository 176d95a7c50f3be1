"""Uniswap v3-core contracts/UniswapV3Pool.sol, batched: N independent pools ("worlds") of one fee tier.

Each world keeps its initialized ticks as a sorted row (a sentinel below MIN_TICK first, pads
above MAX_TICK last), so the next initialized tick of a swap is one gather at a cursor instead of
a bitmap walk; memory per world is O(max_ticks + max_positions). A swap still stops at the edge
of each bitmap word, as the contract's ``nextInitializedTickWithinOneWord`` makes it, because
every step rounds. Whether a tick is initialized is an integer count of what references it (the
pool's own liquidity read from a chain, and each position), never a float compared with zero.
``swap``, ``mint``, ``modify_position`` and ``collect`` follow the contract's order of
operations; amounts are raw token units in float64. Where the contract reverts, a world keeps
its state and reports the code from :mod:`envs.protocols.uniswap_v3.errors`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from envs.arrays import Array
from envs.protocols import array_namespace
from envs.protocols.uniswap_v3 import errors
from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity
from envs.protocols.uniswap_v3.swap_math import compute_swap_step
from envs.protocols.uniswap_v3.tick import get_fee_growth_inside
from envs.protocols.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MIN_SQRT_RATIO,
    MIN_SQRT_RATIO_X96,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)
from envs.units import MAX_TICK, MAX_UINT128, MAX_UINT128_FLOAT, MIN_TICK, Q96, TICK_SPACING

LOW_SENTINEL, PAD = MIN_TICK - 1, MAX_TICK + 1  # row ends: below and above every tick the pool can hold
#: the widest limits a swap may pass: MIN_SQRT_RATIO + 1 (exact in float) and MAX_SQRT_RATIO - 1,
#: whose nearest float is MAX_SQRT_RATIO's, so the float just below it stands for it
MIN_PRICE_LIMIT = (MIN_SQRT_RATIO_X96 + 1) / Q96
MAX_PRICE_LIMIT = math.nextafter(MAX_SQRT_RATIO, 0.0)
WORD = 256  # ticks (in units of the spacing) per tick-bitmap word (TickBitmap.position)


@dataclass(frozen=True)
class V3PoolParams:
    fee_pips: int = 3000
    max_ticks: int = 32  # initialized ticks a world can hold (two sentinels come on top)
    max_positions: int = 2  # position slots per world

    def __post_init__(self):
        if self.fee_pips not in TICK_SPACING:
            raise ValueError(f"fee_pips={self.fee_pips} is not a fee tier; use one of {sorted(TICK_SPACING)}")

    @property
    def tick_spacing(self) -> int:
        return TICK_SPACING[self.fee_pips]


@dataclass
class V3PoolState:
    """Arrays with a leading world axis N (T = max_ticks + 2 tick slots, P = position slots)."""

    sqrt_price: Array  # (N,) float: sqrtPriceX96 / 2**96
    tick: Array  # (N,) int64: slot0.tick
    liquidity: Array  # (N,) float: active liquidity (the nearest float to the exact sum below)
    liquidity_residue: Array  # (N,) float: what rounding left out of ``liquidity`` (compensated sum)
    fee_growth_global0: Array  # (N,) float: token0 fees per unit of liquidity
    fee_growth_global1: Array
    ticks: Array  # (N, T) int64, sorted
    liquidity_net: Array  # (N, T)
    liquidity_gross: Array  # (N, T)
    fee_growth_outside0: Array  # (N, T)
    fee_growth_outside1: Array
    tick_refs: Array  # (N, T) int64: positions using the tick, plus one for liquidity read from a chain
    cursor: Array  # (N,) int64: ticks[cursor-1] <= tick < ticks[cursor]
    position_lower: Array  # (N, P) int64
    position_upper: Array
    position_liquidity: Array  # (N, P) float
    position_fee_inside0_last: Array
    position_fee_inside1_last: Array
    position_owed0: Array  # (N, P) float: tokensOwed0
    position_owed1: Array

    @property
    def n(self) -> int:
        return self.sqrt_price.shape[0]

    def copy(self) -> "V3PoolState":
        xp = array_namespace(self.sqrt_price)
        return replace(self, **{f.name: xp.asarray(getattr(self, f.name), copy=True) for f in fields(self)})


def initial_state(
    xp,
    n: int,
    params: V3PoolParams,
    sqrt_price: float,
    tick_liquidity_net: dict[int, float],
    device=None,
    *,
    tick_liquidity_gross: dict[int, float] | None = None,
    fee_growth_global: tuple[float, float] = (0.0, 0.0),
    fee_growth_outside: dict[int, tuple[float, float]] | None = None,
    tick: int | None = None,
) -> V3PoolState:
    """N identical pools at ``sqrt_price`` whose liquidity is ``tick -> liquidityNet``.

    A pool read from a chain also passes each tick's gross liquidity and fee growth outside, the
    global fee growth, and its ``slot0.tick`` (a price exactly at a tick boundary may stand for
    either side of it: a swap down to tick t leaves the pool at t's price with tick t - 1), so
    positions sharing those ticks accrue exactly as on chain; a fresh pool leaves them out
    (gross defaults to |net|, fee growth to zero, the tick to the one the price lies in).
    """
    row = sorted(tick_liquidity_net)
    gross_of = tick_liquidity_gross or {t: abs(v) for t, v in tick_liquidity_net.items()}
    outside = fee_growth_outside or {}
    f = dict(dtype=xp.float64, device=device)

    def rows(values, dtype=xp.float64):
        return xp.broadcast_to(xp.asarray(values, dtype=dtype, device=device), (n, len(values)))

    return from_arrays(
        xp,
        params,
        xp.full((n,), float(sqrt_price), **f),
        rows(row, xp.int64),
        rows([float(tick_liquidity_net[t]) for t in row]),
        device,
        liquidity_gross=rows([float(gross_of[t]) for t in row]),
        fee_growth_global=(
            xp.full((n,), float(fee_growth_global[0]), **f),
            xp.full((n,), float(fee_growth_global[1]), **f),
        ),
        fee_growth_outside=(
            rows([float(outside.get(t, (0.0, 0.0))[0]) for t in row]),
            rows([float(outside.get(t, (0.0, 0.0))[1]) for t in row]),
        ),
        tick=None if tick is None else xp.full((n,), int(tick), dtype=xp.int64, device=device),
    )


def from_arrays(
    xp,
    params: V3PoolParams,
    sqrt_price,
    ticks,
    liquidity_net,
    device=None,
    *,
    liquidity_gross=None,
    fee_growth_global=None,
    fee_growth_outside=None,
    tick=None,
) -> V3PoolState:
    """Pools whose initialized ticks differ per world: ``ticks`` and ``liquidity_net`` are (N, K) rows
    (sorted, multiples of the spacing, within [MIN_TICK, MAX_TICK]), ``sqrt_price`` is (N,), and
    ``tick`` (N,) the pools' slot0.tick where known (else the tick the price lies in)."""
    n, k = ticks.shape
    spacing, slots = params.tick_spacing, params.max_ticks + 2
    if k > params.max_ticks:
        raise ValueError(f"{k} initialized ticks exceed max_ticks={params.max_ticks}; raise it in V3PoolParams")
    if bool(xp.any((ticks % spacing != 0) | (ticks < MIN_TICK) | (ticks > MAX_TICK))):
        raise ValueError(f"ticks must be multiples of the tick spacing {spacing} within [{MIN_TICK}, {MAX_TICK}]")
    if k and bool(xp.any(xp.abs(xp.sum(liquidity_net, axis=1)) > 1e-6 * xp.max(xp.abs(liquidity_net)))):
        raise ValueError("liquidityNet over all ticks must sum to zero (each range adds at lower, removes at upper)")
    if bool(xp.any((sqrt_price < MIN_SQRT_RATIO) | (sqrt_price > MAX_SQRT_RATIO))):
        raise ValueError("sqrt prices must lie in [MIN_SQRT_RATIO, MAX_SQRT_RATIO)")
    f = dict(dtype=xp.float64, device=device)
    pad = slots - 1 - k

    def padded(values, first, rest, dtype=xp.float64):
        return xp.concat(
            [
                xp.full((n, 1), first, dtype=dtype, device=device),
                values * 1,
                xp.full((n, pad), rest, dtype=dtype, device=device),
            ],
            axis=1,
        )

    # MAX_SQRT_RATIO - 1, the highest price a pool can hold, has MAX_SQRT_RATIO's float
    sqrt_price = xp.minimum(sqrt_price, xp.asarray(MAX_PRICE_LIMIT, **f))
    tick = get_tick_at_sqrt_ratio(sqrt_price) if tick is None else xp.asarray(tick, dtype=xp.int64, device=device)
    below = ticks <= tick[:, None]
    zeros = xp.zeros((n,), **f)
    gross = liquidity_gross if liquidity_gross is not None else xp.abs(liquidity_net)
    fg0, fg1 = fee_growth_global if fee_growth_global is not None else (zeros, zeros * 1)
    fo0, fo1 = fee_growth_outside if fee_growth_outside is not None else (liquidity_net * 0.0, liquidity_net * 0.0)
    p = params.max_positions
    return V3PoolState(
        sqrt_price=sqrt_price * 1.0,
        tick=tick * 1,
        **_active_liquidity(xp.where(below, liquidity_net, 0.0)),
        fee_growth_global0=fg0 * 1.0,
        fee_growth_global1=fg1 * 1.0,
        ticks=padded(ticks, LOW_SENTINEL, PAD, xp.int64),
        liquidity_net=padded(liquidity_net, 0.0, 0.0),
        liquidity_gross=padded(gross, 0.0, 0.0),
        fee_growth_outside0=padded(fo0, 0.0, 0.0),
        fee_growth_outside1=padded(fo1, 0.0, 0.0),
        tick_refs=padded(xp.ones((n, k), dtype=xp.int64, device=device), 0, 0, xp.int64),
        cursor=1 + xp.sum(xp.astype(below, xp.int64), axis=1),
        position_lower=xp.zeros((n, p), dtype=xp.int64, device=device),
        position_upper=xp.zeros((n, p), dtype=xp.int64, device=device),
        position_liquidity=xp.zeros((n, p), **f),
        position_fee_inside0_last=xp.zeros((n, p), **f),
        position_fee_inside1_last=xp.zeros((n, p), **f),
        position_owed0=xp.zeros((n, p), **f),
        position_owed1=xp.zeros((n, p), **f),
    )


@dataclass
class SwapResult:
    amount_in: Array  # (N,) input spent, fee included
    amount_out: Array  # (N,)
    fee: Array  # (N,) part of amount_in paid as LP fee
    error: Array  # (N,) int64 code from envs.protocols.uniswap_v3.errors, 0 where the swap ran


def swap(state: V3PoolState, params: V3PoolParams, zero_for_one, amount_in, sqrt_price_limit, active) -> SwapResult:
    """Exact-input swap in every ``active`` world, in place (UniswapV3Pool.swap).

    ``amount_in`` may be ``inf``: the swap then runs to ``sqrt_price_limit`` (what an arbitrageur
    moving the pool to a target price does). Worlds may swap in different directions. A world
    whose limit is not beyond its price (or lies outside the bounds) reverts 'SPL', one with a zero
    amount 'AS', one whose swap moves no tokens at all (only the price, through ranges without
    liquidity) the router's bare require; they keep their state. Each step ends at the next
    initialized tick or at the edge of the tick-bitmap word, whichever is nearer (while liquidity
    is zero such steps move nothing, so they are skipped).
    """
    xp = array_namespace(state.sqrt_price)
    if bool(xp.any(active & ~(amount_in >= 0))):
        raise ValueError("swap amounts must be non-negative numbers of raw token units (inf: swap to the price limit)")
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    zero = xp.zeros_like(state.sqrt_price)
    limit = _clamp_limit(sqrt_price_limit)
    error = _swap_errors(state, zero_for_one, amount_in, sqrt_price_limit, limit, active)
    active = active & (error == 0)
    remaining = xp.where(active, amount_in, zero)
    total_in, total_out, total_fee = zero, zero, zero
    start = (
        state.sqrt_price,
        state.tick,
        state.cursor,
        state.liquidity,
        state.liquidity_residue,
    )  # replaced below, never written in place
    while True:
        going = active & (remaining > 0) & (state.sqrt_price != limit)
        if not bool(xp.any(going)):
            break
        nxt = xp.where(zero_for_one, state.cursor - 1, state.cursor)
        initialized_next = state.ticks[rows, nxt]
        tick_next = _next_tick_within_one_word(state, params, zero_for_one, initialized_next)
        sqrt_next = get_sqrt_ratio_at_tick(tick_next)
        target = xp.where(zero_for_one, xp.maximum(sqrt_next, limit), xp.minimum(sqrt_next, limit))
        sqrt_new, step_in, step_out, step_fee = compute_swap_step(
            state.sqrt_price, target, state.liquidity, remaining, params.fee_pips, zero_for_one
        )
        sqrt_new = xp.where(going, sqrt_new, state.sqrt_price)
        step_in, step_out, step_fee = (xp.where(going, v, zero) for v in (step_in, step_out, step_fee))
        remaining = xp.where(sqrt_new == target, remaining - (step_in + step_fee), zero)
        total_in, total_out, total_fee = total_in + step_in + step_fee, total_out + step_out, total_fee + step_fee
        growth = xp.where(state.liquidity > 0, step_fee / xp.where(state.liquidity > 0, state.liquidity, 1.0), zero)
        state.fee_growth_global0 = state.fee_growth_global0 + xp.where(zero_for_one, growth, zero)
        state.fee_growth_global1 = state.fee_growth_global1 + xp.where(zero_for_one, zero, growth)
        reached = going & (sqrt_new == sqrt_next)
        crossed = reached & (tick_next == initialized_next)
        if bool(xp.any(crossed)):  # Tick.cross: flip the outside values, apply liquidityNet
            for name, global_ in (
                ("fee_growth_outside0", state.fee_growth_global0),
                ("fee_growth_outside1", state.fee_growth_global1),
            ):
                outside = getattr(state, name)
                at = outside[rows, nxt]
                outside[rows, nxt] = xp.where(crossed, global_ - at, at)
            net = state.liquidity_net[rows, nxt]
            _add_liquidity(state, xp.where(zero_for_one, -net, net), crossed)
            state.cursor = xp.where(crossed, xp.where(zero_for_one, state.cursor - 1, state.cursor + 1), state.cursor)
            _zero_outside_all_ranges(state)
        moved = going & (sqrt_new != state.sqrt_price)
        state.tick = xp.where(
            reached,
            xp.where(zero_for_one, tick_next - 1, tick_next),
            xp.where(moved, get_tick_at_sqrt_ratio(sqrt_new), state.tick),
        )
        state.sqrt_price = sqrt_new
    # A swap through liquidity-free ranges only moves the price and pays nothing: SwapRouter's callback
    # refuses it (`require(amount0Delta > 0 || amount1Delta > 0)`), so the pool stays where it was.
    nothing = active & (total_in == 0) & (total_out == 0)
    if bool(xp.any(nothing)):
        state.sqrt_price, state.tick, state.cursor, state.liquidity, state.liquidity_residue = (
            xp.where(nothing, before, after)
            for before, after in zip(
                start, (state.sqrt_price, state.tick, state.cursor, state.liquidity, state.liquidity_residue)
            )
        )
        error = xp.where(nothing, errors.NOTHING_SWAPPED, error)
    return SwapResult(total_in, total_out, total_fee, error)


def _swap_errors(state: V3PoolState, zero_for_one, amount_in, sqrt_price_limit, limit, active):
    """The swap's requires, in the contract's order: 'AS' (amountSpecified != 0), then 'SPL' (the
    limit strictly beyond the price and strictly inside the bounds). A float limit equal to
    MAX_SQRT_RATIO's float stands for MAX_SQRT_RATIO - 1 (the two share it) and is taken as
    MAX_PRICE_LIMIT, the float below, so the pool never reaches the bound."""
    xp = array_namespace(state.sqrt_price)
    down_ok = (limit < state.sqrt_price) & (sqrt_price_limit > MIN_SQRT_RATIO)
    up_ok = (limit > state.sqrt_price) & (sqrt_price_limit <= MAX_SQRT_RATIO)
    code = xp.where(xp.where(zero_for_one, down_ok, up_ok), errors.OK, errors.SPL)
    code = xp.where(amount_in == 0, errors.AS, code)
    return xp.where(active, code, errors.OK)


def _clamp_limit(sqrt_price_limit):
    xp = array_namespace(sqrt_price_limit)
    return xp.minimum(xp.maximum(sqrt_price_limit, MIN_PRICE_LIMIT), MAX_PRICE_LIMIT)


def _next_tick_within_one_word(state: V3PoolState, params: V3PoolParams, zero_for_one, initialized_next):
    """TickBitmap.nextInitializedTickWithinOneWord as UniswapV3Pool.swap uses it: the next initialized
    tick if it lies in the current word (below: the word of the tick; above: the word of the next
    spaced tick), else the word's last tick that way, clamped to [MIN_TICK, MAX_TICK]. Where the
    active liquidity is zero the word edge is skipped (a step there moves nothing but the price)."""
    xp = array_namespace(state.tick)
    spacing = params.tick_spacing
    # compressed rounds toward -inf, as the contract adjusts it to; a word is 256 = 2**8 compressed ticks
    compressed = state.tick if spacing == 1 else xp.floor_divide(state.tick, spacing)
    word_low = xp.bitwise_left_shift(xp.bitwise_right_shift(compressed, 8), 8) * spacing
    word_high = (xp.bitwise_left_shift(xp.bitwise_right_shift(compressed + 1, 8), 8) + (WORD - 1)) * spacing
    within = xp.where(zero_for_one, xp.maximum(initialized_next, word_low), xp.minimum(initialized_next, word_high))
    tick_next = xp.where(state.liquidity > 0, within, initialized_next)
    return xp.minimum(xp.maximum(tick_next, MIN_TICK), MAX_TICK)


def quote_exact_input(
    state: V3PoolState, params: V3PoolParams, zero_for_one, amount_in, sqrt_price_limit=None, active=None
) -> SwapResult:
    """What an exact-input swap would return, leaving ``state`` untouched (QuoterV2.quoteExactInputSingle)."""
    xp = array_namespace(state.sqrt_price)
    limit = default_price_limit(zero_for_one) if sqrt_price_limit is None else sqrt_price_limit
    mask = xp.ones_like(zero_for_one) if active is None else active
    return swap(state.copy(), params, zero_for_one, amount_in, limit, mask)


def default_price_limit(zero_for_one):
    """The widest limits the contract accepts (MIN_SQRT_RATIO + 1 / MAX_SQRT_RATIO - 1 in Q64.96), as
    float64 on the array's device whatever the namespace's default float is."""
    xp = array_namespace(zero_for_one)
    up = xp.astype(~zero_for_one, xp.float64)  # MIN + (MAX - MIN) rounds to exactly MAX
    return MIN_PRICE_LIMIT + (MAX_PRICE_LIMIT - MIN_PRICE_LIMIT) * up


def _device(x):
    return getattr(x, "device", None) if not hasattr(x, "__array_interface__") else None


def _tick_slot(state: V3PoolState, tick, mask, params: V3PoolParams):
    """Index of ``tick`` in each masked world's tick row, inserting it (uninitialized) where absent."""
    xp = array_namespace(state.ticks)
    rows = xp.arange(state.n, device=_device(state.ticks))
    absent = mask & ~xp.any(state.ticks == tick[:, None], axis=1)
    if bool(xp.any(absent)):
        free = xp.sum(xp.astype(state.ticks < PAD, xp.int64), axis=1)  # the first pad
        if bool(xp.any(absent & (free >= state.ticks.shape[1] - 1))):
            raise ValueError(
                f"a world has no room for another initialized tick: raise max_ticks "
                f"(now {params.max_ticks}) in V3PoolParams"
            )
        slot = xp.where(absent, free, xp.zeros_like(free))
        at = state.ticks[rows, slot]
        state.ticks[rows, slot] = xp.where(absent, tick, at)
        _sort_ticks(state)
    return xp.argmax(xp.astype(state.ticks == tick[:, None], xp.int64), axis=1)


_TICK_ARRAYS = ("ticks", "liquidity_net", "liquidity_gross", "fee_growth_outside0", "fee_growth_outside1", "tick_refs")


def _sort_ticks(state: V3PoolState) -> None:
    xp = array_namespace(state.ticks)
    order = xp.argsort(state.ticks, axis=1, stable=True)
    for name in _TICK_ARRAYS:
        setattr(state, name, xp.take_along_axis(getattr(state, name), order, axis=1))
    state.cursor = xp.sum(xp.astype(state.ticks <= state.tick[:, None], xp.int64), axis=1)


def modify_position(state: V3PoolState, params: V3PoolParams, slot, tick_lower, tick_upper, liquidity_delta, mask):
    """Add (delta > 0, mint) or remove (delta < 0, burn) liquidity of position ``slot`` in masked worlds.

    Follows UniswapV3Pool._modifyPosition: ticks updated (initialized with fee growth outside =
    global when at or below the current tick), fees settled into tokensOwed at the old liquidity,
    the position's liquidity changed, flipped ticks cleared on burn. Returns (amount0, amount1)
    the liquidity is worth: owed to the pool on a mint, credited to tokensOwed on a burn.
    A delta of 0 only settles fees (the contract's ``burn(0)`` poke).
    """
    xp = array_namespace(state.sqrt_price)
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    zero = xp.zeros_like(state.sqrt_price)
    delta = xp.where(mask, liquidity_delta, zero)
    spacing = params.tick_spacing
    bad = mask & (
        (tick_lower >= tick_upper)
        | (tick_lower % spacing != 0)
        | (tick_upper % spacing != 0)
        | (tick_lower < MIN_TICK)
        | (tick_upper > MAX_TICK)
    )
    if bool(xp.any(bad)):
        raise ValueError(
            f"position ticks must satisfy lower < upper, be multiples of the tick spacing "
            f"{spacing} and lie within [{MIN_TICK}, {MAX_TICK}]"
        )
    current = state.position_liquidity[rows, slot]
    if bool(xp.any(mask & (current + delta < -1e-6 * xp.abs(current)))):
        raise ValueError("cannot remove more liquidity than the position holds")
    occupied = mask & ((current > 0) | (state.position_owed0[rows, slot] > 0) | (state.position_owed1[rows, slot] > 0))
    other_range = (state.position_lower[rows, slot] != tick_lower) | (state.position_upper[rows, slot] != tick_upper)
    if bool(xp.any(occupied & other_range)):
        raise ValueError(
            "a position slot holds one range: burn it to zero and collect what it is owed "
            "before reusing the slot for another range"
        )

    remaining = current + delta  # a burn of all of it leaves exactly zero, not float residue
    remaining = xp.where(xp.abs(remaining) <= 1e-12 * xp.abs(current), 0.0, xp.clip(remaining, 0.0, None))
    # the position starts or stops using its two ticks (an integer: Tick.update's flip, exactly)
    refs_delta = xp.where(mask, xp.astype(remaining > 0, xp.int64) - xp.astype(current > 0, xp.int64), 0)
    lo = _tick_slot(state, tick_lower, mask, params)
    hi = _tick_slot(state, tick_upper, mask, params)
    for idx, sign in ((lo, 1.0), (hi, -1.0)):  # Tick.update
        gross_before = state.liquidity_gross[rows, idx]
        gross_after = gross_before + delta
        fresh = mask & (state.tick_refs[rows, idx] == 0) & (delta != 0)
        state.tick_refs[rows, idx] = state.tick_refs[rows, idx] + refs_delta
        below = state.ticks[rows, idx] <= state.tick
        for name, global_ in (
            ("fee_growth_outside0", state.fee_growth_global0),
            ("fee_growth_outside1", state.fee_growth_global1),
        ):
            outside = getattr(state, name)
            outside[rows, idx] = xp.where(fresh & below, global_, outside[rows, idx])
        state.liquidity_gross[rows, idx] = xp.where(mask, gross_after, gross_before)
        state.liquidity_net[rows, idx] = state.liquidity_net[rows, idx] + sign * delta

    inside0 = get_fee_growth_inside(
        state.tick,
        tick_lower,
        tick_upper,
        state.fee_growth_outside0[rows, lo],
        state.fee_growth_outside0[rows, hi],
        state.fee_growth_global0,
    )
    inside1 = get_fee_growth_inside(
        state.tick,
        tick_lower,
        tick_upper,
        state.fee_growth_outside1[rows, lo],
        state.fee_growth_outside1[rows, hi],
        state.fee_growth_global1,
    )
    # Position.update: settle fees at the old liquidity, then change it.
    owed0 = current * _accrued(
        inside0,
        state.position_fee_inside0_last[rows, slot],
        state.fee_growth_global0,
        state.fee_growth_outside0[rows, lo],
        state.fee_growth_outside0[rows, hi],
    )
    owed1 = current * _accrued(
        inside1,
        state.position_fee_inside1_last[rows, slot],
        state.fee_growth_global1,
        state.fee_growth_outside1[rows, lo],
        state.fee_growth_outside1[rows, hi],
    )
    _set(state.position_owed0, rows, slot, mask, state.position_owed0[rows, slot] + owed0)
    _set(state.position_owed1, rows, slot, mask, state.position_owed1[rows, slot] + owed1)
    _set(state.position_fee_inside0_last, rows, slot, mask, inside0)
    _set(state.position_fee_inside1_last, rows, slot, mask, inside1)
    _set(state.position_liquidity, rows, slot, mask, remaining)
    _set(state.position_lower, rows, slot, mask, tick_lower)
    _set(state.position_upper, rows, slot, mask, tick_upper)

    sqrt_lower, sqrt_upper = get_sqrt_ratio_at_tick(tick_lower), get_sqrt_ratio_at_tick(tick_upper)
    amount0, amount1 = get_amounts_for_liquidity(state.sqrt_price, sqrt_lower, sqrt_upper, xp.abs(delta))
    in_range = (state.tick >= tick_lower) & (state.tick < tick_upper)
    _add_liquidity(state, delta, in_range)
    if bool(xp.any(delta < 0)):  # Position burn: principal becomes owed; cleared ticks leave the row
        burn = delta < 0
        _set(state.position_owed0, rows, slot, burn, state.position_owed0[rows, slot] + amount0)
        _set(state.position_owed1, rows, slot, burn, state.position_owed1[rows, slot] + amount1)
        _clear_empty_ticks(state)
        _zero_outside_all_ranges(state)
    return amount0, amount1


def _two_sum(a, b):
    """a + b as s + e exactly (Knuth)."""
    total = a + b
    b_virtual = total - a
    return total, (a - (total - b_virtual)) + (b - b_virtual)


def _active_liquidity(nets) -> dict:
    """The active liquidity as a compensated sum of ``nets`` (N, K): liquidity and its residue."""
    xp = array_namespace(nets)
    high = xp.sum(nets[:, :0], axis=1)  # zeros of the right shape, dtype and device
    low = high * 0.0
    for k in range(nets.shape[1]):
        high, error = _two_sum(high, nets[:, k])
        low = low + error
    total, error = _two_sum(high, low)
    return {"liquidity": xp.maximum(total, 0.0), "liquidity_residue": xp.where(total > 0, error, 0.0)}


def _add_liquidity(state: V3PoolState, delta, where) -> None:
    """LiquidityMath.addDelta on the active liquidity of the ``where`` worlds, as a compensated sum:
    a dust position's few units stay resolved next to a range 1e18 times larger, and a range
    leaving takes back exactly what it brought. Liquidity is never negative."""
    xp = array_namespace(state.liquidity)
    high, error = _two_sum(state.liquidity, delta)
    total, rest = _two_sum(high, state.liquidity_residue + error)
    negative = total < 0
    state.liquidity = xp.where(where, xp.where(negative, 0.0, total), state.liquidity)
    state.liquidity_residue = xp.where(where, xp.where(negative, 0.0, rest), state.liquidity_residue)


def _zero_outside_all_ranges(state: V3PoolState) -> None:
    """The active liquidity is the sum of liquidityNet over the initialized ticks at or below the
    price: with none there, or none above (the nets sum to zero), it is exactly zero, whatever
    float residue the crossings left. A drained pool must hold none: swapped to the bounds, a few
    units of residue would move ~1e19 raw units of token0."""
    xp = array_namespace(state.liquidity)
    rows = xp.arange(state.n, device=_device(state.liquidity))
    inside = (state.ticks[rows, state.cursor - 1] > LOW_SENTINEL) & (state.ticks[rows, state.cursor] < PAD)
    state.liquidity = xp.where(inside, state.liquidity, 0.0)
    state.liquidity_residue = xp.where(inside, state.liquidity_residue, 0.0)


def mint(state: V3PoolState, params: V3PoolParams, slot, tick_lower, tick_upper, liquidity, mask):
    """UniswapV3Pool.mint of ``liquidity`` into position ``slot`` in masked worlds; returns (amount0,
    amount1, error). A world reverts as the contract does, keeping its state: zero liquidity (the
    position manager's LiquidityAmounts can compute 0 for a small deposit, and the pool's bare
    ``require(amount > 0)`` refuses it) or one past 128 bits (LiquidityAmounts' bare toUint128;
    ``get_liquidity_for_amounts`` gives inf), then 'TLU', 'TLM', 'TUM' (Pool.checkTicks), then
    'LO' (a tick's gross liquidity past maxLiquidityPerTick)."""
    xp = array_namespace(state.sqrt_price)
    code = xp.where(
        ~(liquidity > 0) | ~(liquidity <= MAX_UINT128_FLOAT),
        errors.NO_REASON,
        xp.where(
            tick_lower >= tick_upper,
            errors.TLU,
            xp.where(tick_lower < MIN_TICK, errors.TLM, xp.where(tick_upper > MAX_TICK, errors.TUM, errors.OK)),
        ),
    )
    code = xp.where(mask, code, errors.OK)
    code = xp.where(
        (code == errors.OK) & _exceeds_max_per_tick(state, params, tick_lower, tick_upper, liquidity), errors.LO, code
    )
    ok = mask & (code == errors.OK)
    zero = xp.zeros_like(state.sqrt_price)
    amount0, amount1 = modify_position(state, params, slot, tick_lower, tick_upper, xp.where(ok, liquidity, zero), ok)
    return xp.where(ok, amount0, zero), xp.where(ok, amount1, zero), code


def max_liquidity_per_tick(params: V3PoolParams) -> float:
    """Tick.tickSpacingToMaxLiquidityPerTick: uint128 max over the number of usable ticks."""
    spacing = params.tick_spacing
    ticks = (MAX_TICK // spacing * spacing - (-(-MIN_TICK // spacing) * spacing)) // spacing + 1
    return float(MAX_UINT128 // ticks)


def _exceeds_max_per_tick(state: V3PoolState, params: V3PoolParams, tick_lower, tick_upper, liquidity):
    """Would either tick's gross liquidity pass maxLiquidityPerTick (Tick.update's 'LO')?"""
    xp = array_namespace(state.sqrt_price)
    limit = max_liquidity_per_tick(params)
    gross = []
    for tick in (tick_lower, tick_upper):
        match = state.ticks == tick[:, None]
        gross.append(xp.sum(xp.where(match, state.liquidity_gross, 0.0), axis=1))
    return (gross[0] + liquidity > limit) | (gross[1] + liquidity > limit)


def collect(state: V3PoolState, slot, mask):
    """Pay out everything the position is owed (UniswapV3Pool.collect with max amounts)."""
    xp = array_namespace(state.sqrt_price)
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    zero = xp.zeros_like(state.sqrt_price)
    out0 = xp.where(mask, state.position_owed0[rows, slot], zero)
    out1 = xp.where(mask, state.position_owed1[rows, slot], zero)
    _set(state.position_owed0, rows, slot, mask, zero)
    _set(state.position_owed1, rows, slot, mask, zero)
    return out0, out1


def position_fees(state: V3PoolState, slot):
    """Fees a position has earned and not yet settled, plus what it is owed (no state change)."""
    xp = array_namespace(state.sqrt_price)
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    lower, upper = state.position_lower[rows, slot], state.position_upper[rows, slot]
    lo = xp.argmax(xp.astype(state.ticks == lower[:, None], xp.int64), axis=1)
    hi = xp.argmax(xp.astype(state.ticks == upper[:, None], xp.int64), axis=1)
    liq = state.position_liquidity[rows, slot]
    out = []
    for k in ("0", "1"):
        outside, global_ = getattr(state, f"fee_growth_outside{k}"), getattr(state, f"fee_growth_global{k}")
        inside = get_fee_growth_inside(state.tick, lower, upper, outside[rows, lo], outside[rows, hi], global_)
        growth = _accrued(
            inside,
            getattr(state, f"position_fee_inside{k}_last")[rows, slot],
            global_,
            outside[rows, lo],
            outside[rows, hi],
        )
        pending = xp.where(liq > 0, liq * growth, 0.0)
        out.append(pending + getattr(state, f"position_owed{k}")[rows, slot])
    return out[0], out[1]


def _accrued(inside, inside_last, fee_growth_global, outside_lower, outside_upper):
    """Fee growth inside a range since a position last settled, per unit of its liquidity.

    In the contract this is exact (Q128 integers); in float, crossing a tick stores
    ``global - outside`` rounded, so a range whose growth did not move can differ from its last
    value by a few units in the last place of the largest fee-growth value involved. Differences
    within that resolution (8 ulps) count as no growth, so a position the pool paid nothing pays
    nothing here either; growth never falls, so a negative difference is such residue too."""
    xp = array_namespace(inside)
    scale = xp.maximum(
        xp.maximum(xp.abs(fee_growth_global), xp.abs(outside_lower)),
        xp.maximum(xp.abs(outside_upper), xp.abs(inside_last)),
    )
    growth = inside - inside_last
    return xp.where(growth > 8 * _EPS * scale, growth, 0.0)


_EPS = 2.0**-52  # float64 machine epsilon


def _set(array, rows, slot, mask, value) -> None:
    xp = array_namespace(array)
    array[rows, slot] = xp.where(mask, value, array[rows, slot])


def _clear_empty_ticks(state: V3PoolState) -> None:
    """Ticks nothing references any more are uninitialized (Tick.clear, where liquidityGross falls to
    zero) and leave the row; their float gross and net, residue of rounding, go with them."""
    xp = array_namespace(state.ticks)
    empty = (state.tick_refs <= 0) & (state.ticks > LOW_SENTINEL) & (state.ticks < PAD)
    if bool(xp.any(empty)):
        state.ticks = xp.where(empty, PAD, state.ticks)
        for name in _TICK_ARRAYS[1:]:
            value = getattr(state, name)
            setattr(state, name, xp.where(empty, xp.zeros_like(value), value))
        _sort_ticks(state)


def collect_all(state: V3PoolState, params: V3PoolParams, slot, mask):
    """Settle a position's fees, then pay out all it is owed (NonfungiblePositionManager.collect:
    ``pool.burn(0)`` when the position holds liquidity, then ``pool.collect``)."""
    xp = array_namespace(state.sqrt_price)
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    held = mask & (state.position_liquidity[rows, slot] > 0)
    if bool(xp.any(held)):
        modify_position(
            state,
            params,
            slot,
            state.position_lower[rows, slot],
            state.position_upper[rows, slot],
            xp.zeros_like(state.sqrt_price),
            held,
        )
    return collect(state, slot, mask)
