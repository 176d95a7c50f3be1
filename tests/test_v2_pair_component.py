"""The Uniswap V2 pair component is one interface with two sides: the simulator's batched pair and the real
UniswapV2Pair through Router02, driven call for call through ``UniswapV2Pair`` alone, move the same amounts."""

from __future__ import annotations

import numpy as np
import pytest

from envs.arrays import array_backend
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import build_market
from envs.evm.revm import PyrevmChain
from envs.worlds.v2_pair import ChainUniswapV2Pair, SimUniswapV2Pair

ONE = np.ones(1, bool)
ADDRESSES = {"agent": DEV_ACCOUNTS[5], "noise": DEV_ACCOUNTS[7]}


@pytest.fixture(scope="module")
def pairs():
    chain = PyrevmChain()
    market = build_market(chain)
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    on_chain = ChainUniswapV2Pair(market.v2, usdc, weth, ADDRESSES.__getitem__)
    for who in ADDRESSES.values():
        for token in (usdc, weth):
            token.mint(who, 10 ** (token.decimals + 8))
            token.approve(who, on_chain.router.address)
        on_chain.pair.transact("approve", on_chain.router.address, 2**256 - 1, sender=who)
    sim = SimUniswapV2Pair(1, array_backend("numpy"))
    sim.reset(*on_chain.reserves())  # the pair as build_market seeded it
    yield sim, on_chain
    chain.close()


def _same(sim, chain) -> bool:
    """Equal to float64's last bit (raw WETH amounts pass 2**53)."""
    return bool(np.allclose(np.ravel(sim), np.ravel(chain), rtol=4e-16, atol=0.0))


def _both(pairs, method: str, *args):
    sim, on_chain = pairs
    return getattr(sim, method)(*args), getattr(on_chain, method)(*args)


def test_the_pair_moves_the_same_amounts_on_both_sides(pairs):
    sim, on_chain = pairs
    assert sim.shares("agent")[1][0] == on_chain.shares("agent")[1][0]  # the first mint's shares, locked ones too
    for sell_usdc, raw in ((True, 250_000e6), (False, 40e18), (True, 1e6)):
        (paid_s, got_s), (paid_c, got_c) = _both(pairs, "swap", "noise", np.array([sell_usdc]), np.array([raw]), ONE)
        assert _same(got_s, got_c) and got_s[0] > 0 and paid_s[0] == paid_c[0] == raw  # getAmountOut
    used = _both(pairs, "add_liquidity", "agent", np.array([100_000e6]), np.array([100e18]), ONE)
    assert _same(used[0], used[1]) and min(used[0][0][0], used[0][1][0]) > 0
    (mine_s, total_s), (mine_c, total_c) = _both(pairs, "shares", "agent")
    assert _same(mine_s, mine_c) and mine_s[0] > 0 and _same(total_s, total_c)
    got = _both(pairs, "remove_liquidity", "agent", np.floor(mine_s / 3), ONE)
    assert _same(got[0], got[1]) and got[0][0][0] > 0
    assert _same(sim.reserves(), on_chain.reserves())
    assert _both(pairs, "swap", "noise", np.array([True]), np.array([1e6]), ~ONE)[0][1][0] == 0  # masked out
