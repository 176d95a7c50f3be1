"""Uniswap v3-core contracts/libraries/TickMath.sol: sqrt price <-> tick, price = 1.0001^tick.

The simulator keeps sqrt prices as floats (sqrtPriceX96 / 2**96). ``get_sqrt_ratio_at_tick`` returns
the contract's own Q64.96 value, rounded once to the nearest float, from a table of every tick
built on first use (14 MB; double-double arithmetic over the contract's constants, so a pool read
from a chain at ``getSqrtRatioAtTick(t)`` holds exactly the float the table has for ``t``).
``get_tick_at_sqrt_ratio`` is a search in that table, exact at every tick boundary the float
prices can express. The scalar integer versions (``sqrt_ratio_x96_at_tick``,
``tick_at_sqrt_ratio_x96``) are the contract's functions on Python ints, for imports and checks.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from envs.protocols import array_namespace
from envs.units import MAX_TICK, MAX_UINT256, MIN_TICK, Q96, Q128

MIN_SQRT_RATIO_X96 = 4295128739  # TickMath.MIN_SQRT_RATIO
MAX_SQRT_RATIO_X96 = 1461446703485210103287273052203988822378723970342  # TickMath.MAX_SQRT_RATIO
MIN_SQRT_RATIO = MIN_SQRT_RATIO_X96 / Q96  # sqrt price at MIN_TICK
MAX_SQRT_RATIO = MAX_SQRT_RATIO_X96 / Q96  # sqrt price at MAX_TICK (the float nearest to it)
LOG_SQRT_1_0001 = math.log1p(1e-4) / 2  # log1p: log(1.0001) of the float 1.0001 is 1e-13 off

#: TickMath.getSqrtRatioAtTick: for bit k of |tick|, 2**128 / sqrt(1.0001)**(2**k) as a Q128 integer
_BIT_FACTORS = (
    0xFFFCB933BD6FAD37AA2D162D1A594001,
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)


def _ratio_q128(abs_tick: int, bits: range = range(20)) -> int:
    """The contract's running product for the bits ``bits`` of ``abs_tick`` (Q128, each step floored)."""
    ratio = Q128
    for k in bits:
        if abs_tick >> k & 1:
            ratio = ratio * _BIT_FACTORS[k] >> 128
    return ratio


def sqrt_ratio_x96_at_tick(tick: int) -> int:
    """TickMath.getSqrtRatioAtTick on a Python int: the exact Q64.96 sqrt price at ``tick``."""
    if not MIN_TICK <= tick <= MAX_TICK:
        raise ValueError(f"tick {tick} lies outside [{MIN_TICK}, {MAX_TICK}] (the contract reverts 'T')")
    ratio = _ratio_q128(abs(tick))
    if tick > 0:
        ratio = MAX_UINT256 // ratio
    return (ratio >> 32) + (1 if ratio % (1 << 32) else 0)


def tick_at_sqrt_ratio_x96(sqrt_price_x96: int) -> int:
    """TickMath.getTickAtSqrtRatio on a Python int: the greatest tick whose sqrt ratio is <= the price."""
    if not MIN_SQRT_RATIO_X96 <= sqrt_price_x96 < MAX_SQRT_RATIO_X96:
        raise ValueError("sqrtPriceX96 must lie in [MIN_SQRT_RATIO, MAX_SQRT_RATIO) (the contract reverts 'R')")
    tick = int(math.floor(math.log(sqrt_price_x96 / Q96) / LOG_SQRT_1_0001))
    tick = min(max(tick, MIN_TICK), MAX_TICK)
    while tick < MAX_TICK and sqrt_ratio_x96_at_tick(tick + 1) <= sqrt_price_x96:
        tick += 1
    while sqrt_ratio_x96_at_tick(tick) > sqrt_price_x96:
        tick -= 1
    return tick


# --- the float table: double-double products of the contract's factors ----------------------------


def _split(a):
    c = 134217729.0 * a  # Dekker's split: 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a, b):
    """a * b as an unevaluated sum p + e, exactly (Dekker)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd(values: list[int], scale: int):
    """Python ints / 2**scale as double-double (hi, lo) numpy arrays, exactly."""
    hi = np.array([float(v) for v in values])
    lo = np.array([float(v - int(h)) for v, h in zip(values, hi)])
    return np.ldexp(hi, -scale), np.ldexp(lo, -scale)


@lru_cache(maxsize=1)
def _table_numpy() -> np.ndarray:
    """fl(getSqrtRatioAtTick(t)) / 2**96 for t in [MIN_TICK, MAX_TICK].

    The contract's product is split into |tick| = 1024 * high + low; both partial products are
    exact integers, their product and the inversion are done in double-double (~1e-31 relative).
    The contract floors its running product at every step, which moves its result by up to
    ~20 units of the Q128 ratio: where that uncertainty (or the double-double's) reaches the
    contract's rounding up or a float rounding midpoint, the value is computed exactly on
    integers instead (a few hundred ticks near the bounds)."""
    low_bits, high_bits = range(10), range(10, 20)
    low = _dd([_ratio_q128(t, low_bits) for t in range(1024)], 128)
    high = _dd([_ratio_q128(t << 10, high_bits) for t in range((MAX_TICK >> 10) + 1)], 128)
    ticks = np.arange(MIN_TICK, MAX_TICK + 1)
    a = np.abs(ticks)
    (lh, ll), (hh, hl) = (low[0][a & 1023], low[1][a & 1023]), (high[0][a >> 10], high[1][a >> 10])
    p, e = _two_prod(lh, hh)
    e = e + (lh * hl + ll * hh)
    vh = p + e
    vl = e - (vh - p)  # v = ratio / 2**128 = vh + vl
    # tick <= 0: sqrtPriceX96 = ceil(ratio / 2**32) = ceil(x) with x = v * 2**96
    xh, xl = np.ldexp(vh, 96), np.ldexp(vl, 96)
    # tick > 0: sqrtPriceX96 ~ 2**96 / v, one Newton step in double-double (the ceil adds < 1)
    q = 1.0 / vh
    qp, qe = _two_prod(vh, q)
    r = ((1.0 - qp) - qe) - vl * q
    qh = q + q * r
    xh = np.where(ticks > 0, np.ldexp(qh, 96), xh)
    xl = np.where(ticks > 0, np.ldexp((q - qh) + q * r, 96), xl)
    up = np.where(xh != np.floor(xh), np.ceil(xh), xh + np.ceil(xl))
    err = xh * (64.0 / np.ldexp(vh, 128) + 2.0**-100)  # the contract's flooring, and ours
    frac = xh - np.floor(xh) + xl
    near_integer = (xh < 2.0**54) & (np.minimum(np.abs(frac), np.abs(1 - frac)) <= err)
    near_midpoint = (xh >= 2.0**53) & (np.spacing(xh) / 2 - np.abs(xl) <= err + 1.0)
    table = np.ldexp(np.where(ticks > 0, xh, up), -96)
    for i in np.flatnonzero(near_integer | near_midpoint):
        table[i] = sqrt_ratio_x96_at_tick(int(ticks[i])) / Q96
    return table


@lru_cache(maxsize=8)
def _table_for(namespace_name: str, device) -> object:
    table = _table_numpy()
    if namespace_name == "numpy":
        return table
    import torch

    return torch.from_numpy(table).to(device)


def _table(xp, like):
    name = "numpy" if "numpy" in xp.__name__ else "torch"
    device = None if name == "numpy" else like.device
    return _table_for(name, device)


def get_sqrt_ratio_at_tick(tick):
    """The contract's sqrt ratio at ``tick`` as the nearest float (getSqrtRatioAtTick / 2**96).
    Ticks beyond the bounds (the simulator's row sentinels) are clamped to them, as the
    contract clamps the next tick of a swap step."""
    xp = array_namespace(tick)
    table = _table(xp, tick)
    index = xp.minimum(xp.maximum(xp.astype(tick, xp.int64), MIN_TICK), MAX_TICK) - MIN_TICK
    return table[index]


def get_tick_at_sqrt_ratio(sqrt_price):
    """The greatest tick whose (float) sqrt ratio is <= ``sqrt_price``: exact at every tick boundary.
    A logarithm puts it within one tick; two lookups in the table settle it."""
    xp = array_namespace(sqrt_price)
    table = _table(xp, sqrt_price)
    estimate = xp.astype(xp.floor(xp.log(sqrt_price) / LOG_SQRT_1_0001), xp.int64)
    index = xp.minimum(xp.maximum(estimate - MIN_TICK, 0), MAX_TICK - MIN_TICK - 1)
    index = xp.where(table[index + 1] <= sqrt_price, index + 1, index)
    index = xp.where((table[index] > sqrt_price) & (index > 0), index - 1, index)
    return index + MIN_TICK
