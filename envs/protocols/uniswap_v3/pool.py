"""Uniswap v3-core contracts/UniswapV3Pool.sol, batched: N independent pools ("worlds") of one fee tier.

Each world keeps its initialized ticks as a sorted row (sentinels MIN_TICK first, MAX_TICK pads
last), so the next initialized tick of a swap is one gather at a cursor instead of a bitmap
walk; memory per world is O(max_ticks + max_positions). ``swap``, ``modify_position`` and
``collect`` follow the contract's order of operations; amounts are raw token units in float64.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from array_api_compat import array_namespace

from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity
from envs.protocols.uniswap_v3.swap_math import compute_swap_step
from envs.protocols.uniswap_v3.tick import get_fee_growth_inside
from envs.protocols.uniswap_v3.tick_math import (MAX_SQRT_RATIO, MAX_TICK, MIN_SQRT_RATIO, MIN_TICK,
                                                 get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio)

#: fee tier in pips -> tick spacing (UniswapV3Factory's constructor; 100 enabled by governance)
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


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

    sqrt_price: object  # (N,) float: sqrtPriceX96 / 2**96
    tick: object  # (N,) int64: slot0.tick
    liquidity: object  # (N,) float: active liquidity
    fee_growth_global0: object  # (N,) float: token0 fees per unit of liquidity
    fee_growth_global1: object
    ticks: object  # (N, T) int64, sorted
    liquidity_net: object  # (N, T)
    liquidity_gross: object  # (N, T)
    fee_growth_outside0: object  # (N, T)
    fee_growth_outside1: object
    cursor: object  # (N,) int64: ticks[cursor-1] <= tick < ticks[cursor]
    position_lower: object  # (N, P) int64
    position_upper: object
    position_liquidity: object  # (N, P) float
    position_fee_inside0_last: object
    position_fee_inside1_last: object
    position_owed0: object  # (N, P) float: tokensOwed0
    position_owed1: object

    @property
    def n(self) -> int:
        return self.sqrt_price.shape[0]

    def copy(self) -> "V3PoolState":
        xp = array_namespace(self.sqrt_price)
        return replace(self, **{f.name: xp.asarray(getattr(self, f.name), copy=True) for f in fields(self)})


def initial_state(xp, n: int, params: V3PoolParams, sqrt_price: float, tick_liquidity_net: dict[int, float],
                  device=None, *, tick_liquidity_gross: dict[int, float] | None = None,
                  fee_growth_global: tuple[float, float] = (0.0, 0.0),
                  fee_growth_outside: dict[int, tuple[float, float]] | None = None) -> V3PoolState:
    """N identical pools at ``sqrt_price`` whose liquidity is ``tick -> liquidityNet``.

    A pool read from a chain also passes each tick's gross liquidity and fee growth outside, and
    the global fee growth, so positions sharing those ticks accrue exactly as on chain; a fresh
    pool leaves them out (gross defaults to |net|, fee growth to zero).
    """
    row = sorted(tick_liquidity_net)
    gross_of = tick_liquidity_gross or {t: abs(v) for t, v in tick_liquidity_net.items()}
    outside = fee_growth_outside or {}
    f = dict(dtype=xp.float64, device=device)

    def rows(values, dtype=xp.float64):
        return xp.broadcast_to(xp.asarray(values, dtype=dtype, device=device), (n, len(values)))

    return from_arrays(xp, params, xp.full((n,), float(sqrt_price), **f), rows(row, xp.int64),
                       rows([float(tick_liquidity_net[t]) for t in row]), device,
                       liquidity_gross=rows([float(gross_of[t]) for t in row]),
                       fee_growth_global=(xp.full((n,), float(fee_growth_global[0]), **f),
                                          xp.full((n,), float(fee_growth_global[1]), **f)),
                       fee_growth_outside=(rows([float(outside.get(t, (0.0, 0.0))[0]) for t in row]),
                                           rows([float(outside.get(t, (0.0, 0.0))[1]) for t in row])))


def from_arrays(xp, params: V3PoolParams, sqrt_price, ticks, liquidity_net, device=None, *, liquidity_gross=None,
                fee_growth_global=None, fee_growth_outside=None) -> V3PoolState:
    """Pools whose initialized ticks differ per world: ``ticks`` and ``liquidity_net`` are (N, K) rows
    (sorted, multiples of the spacing), ``sqrt_price`` is (N,)."""
    n, k = ticks.shape
    spacing, slots = params.tick_spacing, params.max_ticks + 2
    if k > params.max_ticks:
        raise ValueError(f"{k} initialized ticks exceed max_ticks={params.max_ticks}; raise it in V3PoolParams")
    if bool(xp.any((ticks % spacing != 0) | (ticks <= MIN_TICK) | (ticks >= MAX_TICK))):
        raise ValueError(f"ticks must be multiples of the tick spacing {spacing} inside ({MIN_TICK}, {MAX_TICK})")
    if bool(xp.any(xp.abs(xp.sum(liquidity_net, axis=1)) > 1e-6 * xp.max(xp.abs(liquidity_net)))):
        raise ValueError("liquidityNet over all ticks must sum to zero (each range adds at lower, removes at upper)")
    if bool(xp.any((sqrt_price < MIN_SQRT_RATIO) | (sqrt_price >= MAX_SQRT_RATIO))):
        raise ValueError("sqrt prices must lie in [MIN_SQRT_RATIO, MAX_SQRT_RATIO)")
    f = dict(dtype=xp.float64, device=device)
    pad = slots - 1 - k

    def padded(values, first, rest, dtype=xp.float64):
        return xp.concat([xp.full((n, 1), first, dtype=dtype, device=device), values * 1,
                          xp.full((n, pad), rest, dtype=dtype, device=device)], axis=1)

    tick = get_tick_at_sqrt_ratio(sqrt_price)
    below = ticks <= tick[:, None]
    zeros = xp.zeros((n,), **f)
    gross = liquidity_gross if liquidity_gross is not None else xp.abs(liquidity_net)
    fg0, fg1 = fee_growth_global if fee_growth_global is not None else (zeros, zeros * 1)
    fo0, fo1 = fee_growth_outside if fee_growth_outside is not None else (liquidity_net * 0.0, liquidity_net * 0.0)
    p = params.max_positions
    return V3PoolState(
        sqrt_price=sqrt_price * 1.0, tick=tick, liquidity=xp.sum(xp.where(below, liquidity_net, 0.0), axis=1),
        fee_growth_global0=fg0 * 1.0, fee_growth_global1=fg1 * 1.0,
        ticks=padded(ticks, MIN_TICK, MAX_TICK, xp.int64), liquidity_net=padded(liquidity_net, 0.0, 0.0),
        liquidity_gross=padded(gross, 0.0, 0.0), fee_growth_outside0=padded(fo0, 0.0, 0.0),
        fee_growth_outside1=padded(fo1, 0.0, 0.0),
        cursor=1 + xp.sum(xp.astype(below, xp.int64), axis=1),
        position_lower=xp.zeros((n, p), dtype=xp.int64, device=device),
        position_upper=xp.zeros((n, p), dtype=xp.int64, device=device),
        position_liquidity=xp.zeros((n, p), **f), position_fee_inside0_last=xp.zeros((n, p), **f),
        position_fee_inside1_last=xp.zeros((n, p), **f), position_owed0=xp.zeros((n, p), **f),
        position_owed1=xp.zeros((n, p), **f))


@dataclass
class SwapResult:
    amount_in: object  # (N,) input spent, fee included
    amount_out: object  # (N,)
    fee: object  # (N,) part of amount_in paid as LP fee


def swap(state: V3PoolState, params: V3PoolParams, zero_for_one, amount_in, sqrt_price_limit, active) -> SwapResult:
    """Exact-input swap in every ``active`` world, in place (UniswapV3Pool.swap).

    ``amount_in`` may be ``inf``: the swap then runs to ``sqrt_price_limit`` (what an arbitrageur
    moving the pool to a target price does). Worlds may swap in different directions.
    """
    xp = array_namespace(state.sqrt_price)
    if bool(xp.any(active & ~(amount_in >= 0))):
        raise ValueError("swap amounts must be non-negative numbers of raw token units (inf: swap to the price limit)")
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    zero = xp.zeros_like(state.sqrt_price)
    remaining = xp.where(active, amount_in, zero)
    total_in, total_out, total_fee = zero, zero, zero
    while True:
        going = active & (remaining > 0) & (state.sqrt_price != sqrt_price_limit)
        if not bool(xp.any(going)):
            break
        nxt = xp.where(zero_for_one, state.cursor - 1, state.cursor)
        tick_next = state.ticks[rows, nxt]
        sqrt_next = get_sqrt_ratio_at_tick(tick_next)
        target = xp.where(zero_for_one, xp.maximum(sqrt_next, sqrt_price_limit), xp.minimum(sqrt_next, sqrt_price_limit))
        sqrt_new, step_in, step_out, step_fee = compute_swap_step(state.sqrt_price, target, state.liquidity,
                                                                  remaining, params.fee_pips, zero_for_one)
        sqrt_new = xp.where(going, sqrt_new, state.sqrt_price)
        step_in, step_out, step_fee = (xp.where(going, v, zero) for v in (step_in, step_out, step_fee))
        remaining = xp.where(sqrt_new == target, remaining - (step_in + step_fee), zero)
        total_in, total_out, total_fee = total_in + step_in + step_fee, total_out + step_out, total_fee + step_fee
        growth = xp.where(state.liquidity > 0, step_fee / xp.where(state.liquidity > 0, state.liquidity, 1.0), zero)
        state.fee_growth_global0 = state.fee_growth_global0 + xp.where(zero_for_one, growth, zero)
        state.fee_growth_global1 = state.fee_growth_global1 + xp.where(zero_for_one, zero, growth)
        crossed = going & (sqrt_new == sqrt_next)
        if bool(xp.any(crossed)):  # Tick.cross: flip the outside values, apply liquidityNet
            for name, global_ in (("fee_growth_outside0", state.fee_growth_global0),
                                  ("fee_growth_outside1", state.fee_growth_global1)):
                outside = getattr(state, name)
                at = outside[rows, nxt]
                outside[rows, nxt] = xp.where(crossed, global_ - at, at)
            net = state.liquidity_net[rows, nxt]
            state.liquidity = state.liquidity + xp.where(crossed, xp.where(zero_for_one, -net, net), zero)
            state.cursor = xp.where(crossed, xp.where(zero_for_one, state.cursor - 1, state.cursor + 1), state.cursor)
        moved = going & (sqrt_new != state.sqrt_price)
        state.tick = xp.where(crossed, xp.where(zero_for_one, tick_next - 1, tick_next),
                              xp.where(moved, get_tick_at_sqrt_ratio(sqrt_new), state.tick))
        state.sqrt_price = sqrt_new
    return SwapResult(total_in, total_out, total_fee)


def quote_exact_input(state: V3PoolState, params: V3PoolParams, zero_for_one, amount_in, sqrt_price_limit=None,
                      active=None) -> SwapResult:
    """What an exact-input swap would return, leaving ``state`` untouched (QuoterV2.quoteExactInputSingle)."""
    xp = array_namespace(state.sqrt_price)
    limit = default_price_limit(zero_for_one) if sqrt_price_limit is None else sqrt_price_limit
    mask = xp.ones_like(zero_for_one) if active is None else active
    return swap(state.copy(), params, zero_for_one, amount_in, limit, mask)


def default_price_limit(zero_for_one):
    """The widest limits the contract accepts (MIN_SQRT_RATIO + 1 wei / MAX_SQRT_RATIO - 1 wei in Q64.96)."""
    xp = array_namespace(zero_for_one)
    return xp.where(zero_for_one, MIN_SQRT_RATIO * (1 + 1e-12), MAX_SQRT_RATIO * (1 - 1e-12))


def _device(x):
    return getattr(x, "device", None) if not hasattr(x, "__array_interface__") else None


def _tick_slot(state: V3PoolState, tick, mask, params: V3PoolParams):
    """Index of ``tick`` in each masked world's tick row, inserting it (uninitialized) where absent."""
    xp = array_namespace(state.ticks)
    rows = xp.arange(state.n, device=_device(state.ticks))
    absent = mask & ~xp.any(state.ticks == tick[:, None], axis=1)
    if bool(xp.any(absent)):
        free = xp.sum(xp.astype(state.ticks < MAX_TICK, xp.int64), axis=1)  # first MAX_TICK pad
        if bool(xp.any(absent & (free >= state.ticks.shape[1] - 1))):
            raise ValueError(f"a world has no room for another initialized tick: raise max_ticks "
                             f"(now {params.max_ticks}) in V3PoolParams")
        slot = xp.where(absent, free, xp.zeros_like(free))
        at = state.ticks[rows, slot]
        state.ticks[rows, slot] = xp.where(absent, tick, at)
        _sort_ticks(state)
    return xp.argmax(xp.astype(state.ticks == tick[:, None], xp.int64), axis=1)


_TICK_ARRAYS = ("ticks", "liquidity_net", "liquidity_gross", "fee_growth_outside0", "fee_growth_outside1")


def _sort_ticks(state: V3PoolState) -> None:
    xp = array_namespace(state.ticks)
    order = xp.argsort(state.ticks, axis=1, stable=True)
    for name in _TICK_ARRAYS:
        setattr(state, name, xp.take_along_axis(getattr(state, name), order, axis=1))
    state.cursor = xp.sum(xp.astype(state.ticks <= state.tick[:, None], xp.int64), axis=1)


def modify_position(state: V3PoolState, params: V3PoolParams, slot, tick_lower, tick_upper, liquidity_delta,
                    mask):
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
    bad = mask & ((tick_lower >= tick_upper) | (tick_lower % spacing != 0) | (tick_upper % spacing != 0)
                  | (tick_lower <= MIN_TICK) | (tick_upper >= MAX_TICK))
    if bool(xp.any(bad)):
        raise ValueError(f"position ticks must satisfy lower < upper, be multiples of the tick spacing "
                         f"{spacing} and lie strictly inside ({MIN_TICK}, {MAX_TICK})")
    current = state.position_liquidity[rows, slot]
    if bool(xp.any(mask & (current + delta < -1e-6 * xp.abs(current)))):
        raise ValueError("cannot remove more liquidity than the position holds")
    occupied = mask & ((current > 0) | (state.position_owed0[rows, slot] > 0) | (state.position_owed1[rows, slot] > 0))
    other_range = (state.position_lower[rows, slot] != tick_lower) | (state.position_upper[rows, slot] != tick_upper)
    if bool(xp.any(occupied & other_range)):
        raise ValueError("a position slot holds one range: burn it to zero and collect what it is owed "
                         "before reusing the slot for another range")

    lo = _tick_slot(state, tick_lower, mask, params)
    hi = _tick_slot(state, tick_upper, mask, params)
    for idx, sign in ((lo, 1.0), (hi, -1.0)):  # Tick.update
        gross_before = state.liquidity_gross[rows, idx]
        gross_after = gross_before + delta
        fresh = mask & (gross_before == 0) & (delta != 0)
        below = state.ticks[rows, idx] <= state.tick
        for name, global_ in (("fee_growth_outside0", state.fee_growth_global0),
                              ("fee_growth_outside1", state.fee_growth_global1)):
            outside = getattr(state, name)
            outside[rows, idx] = xp.where(fresh & below, global_, outside[rows, idx])
        state.liquidity_gross[rows, idx] = xp.where(mask, gross_after, gross_before)
        state.liquidity_net[rows, idx] = state.liquidity_net[rows, idx] + sign * delta

    inside0 = get_fee_growth_inside(state.tick, tick_lower, tick_upper, state.fee_growth_outside0[rows, lo],
                                    state.fee_growth_outside0[rows, hi], state.fee_growth_global0)
    inside1 = get_fee_growth_inside(state.tick, tick_lower, tick_upper, state.fee_growth_outside1[rows, lo],
                                    state.fee_growth_outside1[rows, hi], state.fee_growth_global1)
    # Position.update: settle fees at the old liquidity, then change it. Fee growth inside never
    # falls; a negative difference is float cancellation in (global - below - above), so 0.
    owed0 = current * xp.clip(inside0 - state.position_fee_inside0_last[rows, slot], 0.0, None)
    owed1 = current * xp.clip(inside1 - state.position_fee_inside1_last[rows, slot], 0.0, None)
    _set(state.position_owed0, rows, slot, mask, state.position_owed0[rows, slot] + owed0)
    _set(state.position_owed1, rows, slot, mask, state.position_owed1[rows, slot] + owed1)
    _set(state.position_fee_inside0_last, rows, slot, mask, inside0)
    _set(state.position_fee_inside1_last, rows, slot, mask, inside1)
    remaining = current + delta  # a burn of all of it leaves exactly zero, not float residue
    remaining = xp.where(xp.abs(remaining) <= 1e-12 * xp.abs(current), 0.0, xp.clip(remaining, 0.0, None))
    _set(state.position_liquidity, rows, slot, mask, remaining)
    _set(state.position_lower, rows, slot, mask, tick_lower)
    _set(state.position_upper, rows, slot, mask, tick_upper)

    sqrt_lower, sqrt_upper = get_sqrt_ratio_at_tick(tick_lower), get_sqrt_ratio_at_tick(tick_upper)
    amount0, amount1 = get_amounts_for_liquidity(state.sqrt_price, sqrt_lower, sqrt_upper, xp.abs(delta))
    in_range = (state.tick >= tick_lower) & (state.tick < tick_upper)
    state.liquidity = state.liquidity + xp.where(in_range, delta, zero)
    if bool(xp.any(delta < 0)):  # Position burn: principal becomes owed; cleared ticks leave the row
        burn = delta < 0
        _set(state.position_owed0, rows, slot, burn, state.position_owed0[rows, slot] + amount0)
        _set(state.position_owed1, rows, slot, burn, state.position_owed1[rows, slot] + amount1)
        _clear_empty_ticks(state)
    return amount0, amount1


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
        growth = xp.clip(inside - getattr(state, f"position_fee_inside{k}_last")[rows, slot], 0.0, None)
        pending = xp.where(liq > 0, liq * growth, 0.0)
        out.append(pending + getattr(state, f"position_owed{k}")[rows, slot])
    return out[0], out[1]


def _set(array, rows, slot, mask, value) -> None:
    xp = array_namespace(array)
    array[rows, slot] = xp.where(mask, value, array[rows, slot])


def _clear_empty_ticks(state: V3PoolState) -> None:
    """Ticks whose gross liquidity fell to zero are uninitialized (Tick.clear) and leave the row."""
    xp = array_namespace(state.ticks)
    empty = (state.liquidity_gross <= 0) & (state.ticks > MIN_TICK) & (state.ticks < MAX_TICK)
    if bool(xp.any(empty)):
        state.ticks = xp.where(empty, MAX_TICK, state.ticks)
        for name in _TICK_ARRAYS[1:]:
            setattr(state, name, xp.where(empty, 0.0, getattr(state, name)))
        _sort_ticks(state)


def collect_all(state: V3PoolState, params: V3PoolParams, slot, mask):
    """Settle a position's fees, then pay out all it is owed (NonfungiblePositionManager.collect:
    ``pool.burn(0)`` when the position holds liquidity, then ``pool.collect``)."""
    xp = array_namespace(state.sqrt_price)
    rows = xp.arange(state.n, device=_device(state.sqrt_price))
    held = mask & (state.position_liquidity[rows, slot] > 0)
    if bool(xp.any(held)):
        modify_position(state, params, slot, state.position_lower[rows, slot], state.position_upper[rows, slot],
                        xp.zeros_like(state.sqrt_price), held)
    return collect(state, slot, mask)
