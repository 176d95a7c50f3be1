"""The real Uniswap V2, Uniswap V3 and Aave V3 contracts behave as their protocols define, on both EVM rungs."""

from __future__ import annotations

import pytest

from envs.assets import aave_reserve_params
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market
from envs.contracts.uniswap_v3 import TICK_SPACING
from envs.evm.chain import TransactionReverted
from envs.units import align_tick
from tests.protocol_rules import (
    compounded_interest,
    health_factor,
    liquidation_collateral,
    percent_mul,
    ray_mul,
    v2_get_amount_out,
)

TRADER, LP, BORROWER, LIQUIDATOR = DEV_ACCOUNTS[2:6]
AAVE = aave_reserve_params()


def test_deployment_gives_the_same_addresses_on_every_rung(deployed_market: Market):
    # Both rungs deploy from the same account in the same order, so CREATE addresses coincide
    # with anvil's well-known first addresses.
    assert deployed_market.tokens["USDC"].address == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert deployed_market.tokens["WETH"].address == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def test_v2_swap_pays_get_amount_out(market: Market):
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    amount_in = 25_000 * 10**6
    usdc.mint(TRADER, amount_in)
    usdc.approve(TRADER, market.v2.router.address)
    r_in, r_out = market.v2.reserves(usdc, weth)

    out = market.v2.swap_exact_in(TRADER, usdc, weth, amount_in)

    assert out == v2_get_amount_out(amount_in, r_in, r_out)
    assert weth.balance_of(TRADER) == out
    new_in, new_out = market.v2.reserves(usdc, weth)
    assert (new_in, new_out) == (r_in + amount_in, r_out - out)
    assert new_in * new_out >= r_in * r_out  # k never decreases


def test_v3_swap_through_router_matches_quoter(market: Market):
    usdc, weth, pool = market.tokens["USDC"], market.tokens["WETH"], market.v3_pools[500]
    amount_in = 3 * 10**18
    weth.mint(TRADER, amount_in)
    weth.approve(TRADER, market.v3.router.address)
    quote = market.v3.quote_exact_input_single(weth, usdc, 500, amount_in)

    out, swap = market.v3.exact_input_single(TRADER, weth, usdc, 500, amount_in)

    assert out == quote["amount_out"] > 0
    assert usdc.balance_of(TRADER) == out
    assert swap["sqrtPriceX96"] == quote["sqrt_price_x96_after"] == pool.call("slot0")[0]


def test_v3_swap_crossing_ticks_changes_active_liquidity_by_their_net(market: Market):
    usdc, weth, pool = market.tokens["USDC"], market.tokens["WETH"], market.v3_pools[500]
    ticks = market.v3.initialized_ticks(pool)
    liquidity_before, tick_before = pool.call("liquidity"), pool.call("slot0")[1]
    amount_in = 10_000_000 * 10**6  # USDC is token0: selling it moves the tick down through ranges
    usdc.mint(TRADER, amount_in)
    usdc.approve(TRADER, market.v3.router.address)
    quote = market.v3.quote_exact_input_single(usdc, weth, 500, amount_in)

    market.v3.exact_input_single(TRADER, usdc, weth, 500, amount_in)

    tick_after = pool.call("slot0")[1]
    crossed = [t for t in ticks if tick_after < t <= tick_before]
    assert len(crossed) >= 2 and quote["initialized_ticks_crossed"] >= len(crossed)
    # Moving left across tick t subtracts its liquidityNet (UniswapV3Pool.swap, zeroForOne).
    assert pool.call("liquidity") == liquidity_before - sum(ticks[t] for t in crossed)


def test_v3_position_earns_its_share_of_swap_fees(market: Market):
    usdc, weth, fee = market.tokens["USDC"], market.tokens["WETH"], 3000
    pool = market.v3_pools[fee]
    tick = pool.call("slot0")[1]
    lower, upper = align_tick(tick - 1200, TICK_SPACING[fee]), align_tick(tick + 1200, TICK_SPACING[fee], up=True)
    usdc.mint(LP, 200_000 * 10**6)
    weth.mint(LP, 100 * 10**18)
    position = market.v3.mint(LP, usdc, weth, fee, lower, upper, 200_000 * 10**6, 100 * 10**18)
    share = position.liquidity / pool.call("liquidity")

    usdc_in, weth_in = 50_000 * 10**6, 20 * 10**18
    usdc.mint(TRADER, usdc_in)
    weth.mint(TRADER, weth_in)
    usdc.approve(TRADER, market.v3.router.address)
    weth.approve(TRADER, market.v3.router.address)
    market.v3.exact_input_single(TRADER, usdc, weth, fee, usdc_in)
    market.v3.exact_input_single(TRADER, weth, usdc, fee, weth_in)
    assert lower < pool.call("slot0")[1] < upper  # no range edge was crossed, so the share held

    principal0, principal1 = market.v3.decrease_liquidity(LP, position.token_id, position.liquidity)
    collected0, collected1 = market.v3.collect(LP, position.token_id)
    # The pool charges fee pips of each input and splits them by liquidity (feeGrowthGlobal).
    assert collected0 - principal0 == pytest.approx(usdc_in * fee / 1e6 * share, rel=1e-6, abs=2)  # fees round down
    assert collected1 - principal1 == pytest.approx(weth_in * fee / 1e6 * share, rel=1e-6, abs=2)
    market.v3.burn(LP, position.token_id)
    with pytest.raises(TransactionReverted, match="Invalid token ID"):
        market.v3.position(position.token_id)


def _open_borrow(market: Market, weth_raw: int, usdc_raw: int) -> None:
    weth, usdc = market.tokens["WETH"], market.tokens["USDC"]
    weth.mint(BORROWER, weth_raw)
    market.aave.supply(BORROWER, weth, weth_raw)
    market.aave.borrow(BORROWER, usdc, usdc_raw)


def test_aave_health_factor_follows_the_protocol_formula(market: Market):
    weth, usdc, aave = market.tokens["WETH"], market.tokens["USDC"], market.aave
    _open_borrow(market, 10 * 10**18, 9_000 * 10**6)

    account = aave.user_account_data(BORROWER)
    collateral = aave.user_reserve_data(weth, BORROWER)["current_atoken_balance"]
    debt = aave.user_reserve_data(usdc, BORROWER)["current_variable_debt"]
    collateral_base = collateral * aave.price(weth) // 10**18
    debt_base = -(-debt * aave.price(usdc) // 10**6)  # debt is valued rounding up
    assert account["total_collateral_base"] == collateral_base
    assert account["total_debt_base"] == debt_base
    assert account["health_factor"] == health_factor(collateral_base, AAVE["WETH"].liquidation_threshold, debt_base)


def test_aave_refuses_a_borrow_beyond_ltv(market: Market):
    _open_borrow(market, 10 * 10**18, 1_000 * 10**6)
    available_usd = market.aave.user_account_data(BORROWER)["available_borrows_base"] / 1e8
    too_much = int(available_usd * 1.01 * 10**6)
    with pytest.raises(TransactionReverted) as err:
        market.aave.borrow(BORROWER, market.tokens["USDC"], too_much)
    assert err.value.reason == "36"  # Errors.COLLATERAL_CANNOT_COVER_NEW_BORROW


def test_aave_variable_debt_compounds_at_the_borrow_rate_and_repays_in_full(market: Market):
    usdc, aave = market.tokens["USDC"], market.aave
    _open_borrow(market, 10 * 10**18, 9_000 * 10**6)
    reserve = aave.reserve_data(usdc)
    debt = aave.user_reserve_data(usdc, BORROWER)["scaled_variable_debt"]

    market.chain.advance_time(30 * 24 * 3600)

    elapsed = market.chain.timestamp() - reserve["last_update_timestamp"]
    index = ray_mul(reserve["variable_borrow_index"], compounded_interest(reserve["variable_borrow_rate"], elapsed))
    assert aave.user_reserve_data(usdc, BORROWER)["current_variable_debt"] == ray_mul(debt, index)

    usdc.mint(BORROWER, 100 * 10**6)  # more than the interest owed
    aave.repay(BORROWER, usdc)
    assert aave.user_reserve_data(usdc, BORROWER)["current_variable_debt"] == 0
    assert aave.user_account_data(BORROWER)["health_factor"] == 2**256 - 1


@pytest.mark.parametrize(
    "price_drop, close_factor_bps",
    [(0.06, 5_000), (0.15, 10_000)],
    ids=["hf_above_0_95_closes_half", "hf_below_0_95_closes_all"],
)
def test_liquidation_after_oracle_drop_pays_collateral_plus_bonus(market: Market, price_drop, close_factor_bps):
    weth, usdc, aave = market.tokens["WETH"], market.tokens["USDC"], market.aave
    weth.mint(BORROWER, 10 * 10**18)
    aave.supply(BORROWER, weth, 10 * 10**18)
    max_borrow = aave.user_account_data(BORROWER)["available_borrows_base"] * 10**6 // aave.price(usdc)
    aave.borrow(BORROWER, usdc, max_borrow * 999 // 1000)

    aave.set_price("WETH", int(aave.price(weth) * (1 - price_drop)))
    hf = aave.user_account_data(BORROWER)["health_factor"] / 1e18
    assert (0.95 <= hf < 1) if close_factor_bps == 5_000 else hf < 0.95
    debt_before = aave.user_reserve_data(usdc, BORROWER)["current_variable_debt"]
    usdc.mint(LIQUIDATOR, debt_before * 2)

    event = aave.liquidation_call(LIQUIDATOR, weth, usdc, BORROWER, 2**256 - 1)

    # LiquidationLogic: the close factor caps the debt repaid (debt accrues 12 s more in the tx's block).
    assert event["debtToCover"] == pytest.approx(percent_mul(debt_before, close_factor_bps), rel=1e-7)
    to_liquidator, fee = liquidation_collateral(
        event["debtToCover"],
        aave.price(usdc),
        6,
        aave.price(weth),
        18,
        AAVE["WETH"].liquidation_bonus,
        AAVE["WETH"].liquidation_protocol_fee,
    )
    assert event["liquidatedCollateralAmount"] == to_liquidator
    assert weth.balance_of(LIQUIDATOR) == to_liquidator
    assert fee > 0
    remaining = aave.user_reserve_data(usdc, BORROWER)["current_variable_debt"]
    assert remaining == pytest.approx(debt_before - event["debtToCover"], rel=1e-7, abs=2)
