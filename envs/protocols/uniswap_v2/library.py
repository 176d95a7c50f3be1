"""Uniswap v2-periphery contracts/libraries/UniswapV2Library.sol: amounts through a pair, 0.3% fee on input."""

from __future__ import annotations

from envs.protocols import array_namespace
from envs.units import BPS

FEE_BPS = 30  # the pair's fee: 997/1000 of the input trades


def get_amount_out(amount_in, reserve_in, reserve_out, fee_bps: float = FEE_BPS):
    """amountInWithFee * reserveOut / (reserveIn * 1000 + amountInWithFee), rounded down."""
    xp = array_namespace(amount_in)
    with_fee = amount_in * (BPS - fee_bps)
    return xp.floor(with_fee * reserve_out / (reserve_in * BPS + with_fee))


def get_amount_in_to_price(reserve_in, reserve_out, target_out_per_in, fee_bps: float = FEE_BPS):
    """The input that leaves the pair's spot price (reserve_out / reserve_in) at ``target_out_per_in``:
    with g = 1 - fee the reserves after are (r_in + x, r_in * r_out / (r_in + g x)), so x solves
    g x^2 + (1 + g) r_in x + r_in^2 - r_in r_out / target = 0. Zero when the spot is already at or below it."""
    xp = array_namespace(reserve_in)
    g = 1.0 - fee_bps / BPS
    c = reserve_in * reserve_in - reserve_in * reserve_out / target_out_per_in
    b = (1.0 + g) * reserve_in
    root = (-b + xp.sqrt(xp.clip(b * b - 4.0 * g * c, 0.0, None))) / (2.0 * g)
    return xp.where(c < 0, root, 0.0)
