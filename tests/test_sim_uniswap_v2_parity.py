"""The batched Uniswap V2 simulator agrees with the real pair and Router02 bytecode (pyrevm)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import build_market
from envs.contracts.state_reader import read_v2_pair
from envs.evm.chain import TransactionReverted
from envs.evm.revm import PyrevmChain
from envs.protocols.uniswap_v2 import pair as v2
from envs.protocols.uniswap_v2.library import get_amount_in_to_price
from tests.parity import assert_close

TRADER, LP = DEV_ACCOUNTS[2], DEV_ACCOUNTS[3]
ONE = np.array([True])


def test_random_swaps_mints_and_burns_agree_with_the_pair():
    m = build_market(PyrevmChain())
    usdc, weth = m.tokens["USDC"], m.tokens["WETH"]  # token0, token1
    pair = m.v2.pair(usdc, weth)
    state = v2.initial_state(np, 1, *read_v2_pair(pair))
    for who in (TRADER, LP):
        usdc.mint(who, 10**15)
        weth.mint(who, 10**24)
        usdc.approve(who, m.v2.router.address)
        weth.approve(who, m.v2.router.address)
    rng = np.random.default_rng(0)
    for _ in range(60):
        op = rng.choice(["swap", "swap", "mint", "burn"])
        if op == "swap":
            usdc_in = bool(rng.integers(2))
            raw = int(10 ** rng.uniform(0, 6.5) * (1e6 if usdc_in else 1e18 / 2000))
            out = m.v2.swap_exact_in(TRADER, usdc if usdc_in else weth, weth if usdc_in else usdc, raw)
            assert_close("amount out", v2.swap(state, np.array([usdc_in]), np.array([float(raw)]), ONE)[0], out)
        elif op == "mint":
            a0, a1 = int(rng.uniform(1e3, 1e6) * 1e6), int(rng.uniform(1, 500) * 1e18)
            before = pair.call("balanceOf", LP)
            event = m.v2.add_liquidity(LP, usdc, weth, a0, a1)
            shares, used0, used1 = v2.mint(state, np.array([float(a0)]), np.array([float(a1)]), ONE)
            assert_close("shares minted", shares[0], pair.call("balanceOf", LP) - before)
            assert_close("amount0 deposited", used0[0], event["amount0"])
            assert_close("amount1 deposited", used1[0], event["amount1"])
        elif pair.call("balanceOf", LP) > 0:
            shares = pair.call("balanceOf", LP) // 2
            event = m.v2.remove_liquidity(LP, usdc, weth, shares)
            a0, a1 = v2.burn(state, np.array([float(shares)]), ONE)
            assert_close("amount0 burned", a0[0], event["amount0"])
            assert_close("amount1 burned", a1[0], event["amount1"])
        reserve0, reserve1, supply = read_v2_pair(pair)
        assert_close("reserve0", state.reserve0[0], reserve0)
        assert_close("reserve1", state.reserve1[0], reserve1)
        assert_close("total supply", state.total_supply[0], supply)


def test_swap_to_price_lands_the_spot_on_the_target():
    state = v2.initial_state(np, 3, 5e12, 2.5e21)  # $5M USDC / 2,500 WETH
    target = np.array([2.5e21 / 5e12 * 1.02, 2.5e21 / 5e12 * 0.97, 2.5e21 / 5e12])  # WETH per USDC, raw
    sell_usdc = target < state.reserve1 / state.reserve0
    amount = np.where(
        sell_usdc,
        get_amount_in_to_price(state.reserve0, state.reserve1, target),
        get_amount_in_to_price(state.reserve1, state.reserve0, 1 / target),
    )
    v2.swap(state, sell_usdc, amount, np.ones(3, bool))
    np.testing.assert_allclose((state.reserve1 / state.reserve0)[:2], target[:2], rtol=1e-9)
    assert amount[2] == 0


def test_the_pair_refuses_what_the_contracts_revert_and_keeps_its_state():
    m = build_market(PyrevmChain())
    usdc, weth = m.tokens["USDC"], m.tokens["WETH"]
    pair = m.v2.pair(usdc, weth)
    for token in (usdc, weth):
        token.mint(LP, 10**24)
    m.v2.add_liquidity(LP, usdc, weth, 10**9, 10**18)
    state = v2.initial_state(np, 1, *read_v2_pair(pair))
    held = pair.call("balanceOf", LP)
    refused = [
        (
            "INSUFFICIENT_OUTPUT_AMOUNT",
            lambda: m.v2.swap_exact_in(LP, weth, usdc, 1),
            lambda: v2.swap(state, ~ONE, np.ones(1), ONE),
        ),
        (
            "INSUFFICIENT_AMOUNT",  # a deposit of WETH only
            lambda: m.v2.add_liquidity(LP, usdc, weth, 0, 10**18),
            lambda: v2.mint(state, np.zeros(1), np.array([1e18]), ONE)[0],
        ),
        (
            "INSUFFICIENT_LIQUIDITY_BURNED",
            lambda: m.v2.remove_liquidity(LP, usdc, weth, 1),
            lambda: v2.burn(state, np.ones(1), ONE)[0],
        ),
    ]
    for reason, on_chain, batched in refused:
        with pytest.raises(TransactionReverted, match=reason):
            on_chain()
        before = (state.reserve0[0], state.reserve1[0], state.total_supply[0])
        assert batched()[0] == 0 and (state.reserve0[0], state.reserve1[0], state.total_supply[0]) == before
        assert before == tuple(float(x) for x in read_v2_pair(pair)) and pair.call("balanceOf", LP) == held


def test_a_deposit_at_the_rounded_down_quote_takes_the_routers_branch():
    """Router02 deposits all of A when the quote for it, rounded down, fits the B offered: offered exactly that
    quote (below the unrounded ratio), the pair takes both amounts in full, as the batched pair does."""
    m = build_market(PyrevmChain())
    usdc, weth = m.tokens["USDC"], m.tokens["WETH"]
    pair = m.v2.pair(usdc, weth)
    for token in (usdc, weth):
        token.mint(LP, 10**24)
    for usdc_raw in (1, 3, 1000):  # (a quote past 2**53 wei, as for 1e6 raw USDC, is rounded in float64)
        r0, r1, _ = read_v2_pair(pair)
        quote = usdc_raw * r1 // r0  # UniswapV2Library.quote
        state = v2.initial_state(np, 1, *read_v2_pair(pair))
        before = pair.call("balanceOf", LP)
        event = m.v2.add_liquidity(LP, usdc, weth, usdc_raw, quote)
        shares, used0, used1 = v2.mint(state, np.array([float(usdc_raw)]), np.array([float(quote)]), ONE)
        assert (event["amount0"], event["amount1"]) == (usdc_raw, quote)
        assert_close("shares minted", shares[0], pair.call("balanceOf", LP) - before)
        assert (used0[0], used1[0]) == (usdc_raw, quote)
