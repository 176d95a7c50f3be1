"""Properties that hold for any sequence of actions (hypothesis draws the sequences)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.assets import aave_reserve_params
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.uniswap_v2 import pair as v2
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick

swaps = st.lists(st.tuples(st.booleans(), st.floats(0, 14)), min_size=1, max_size=25)
ONE = np.array([True])


@settings(max_examples=60, deadline=None)
@given(swaps)
def test_v2_reserves_stay_positive_k_never_falls_and_no_swap_pays_more_than_the_reserve(trades):
    pool = v2.initial_state(np, 1, 5e12, 2.5e21)
    for sell0, log_amount in trades:
        k_before, out_reserve = pool.reserve0 * pool.reserve1, (pool.reserve1 if sell0 else pool.reserve0)
        out = v2.swap(pool, np.array([sell0]), np.array([10**log_amount * (1.0 if sell0 else 5e8)]), ONE)
        assert 0 <= out[0] < out_reserve[0]
        assert pool.reserve0[0] > 0 and pool.reserve1[0] > 0
        assert pool.reserve0[0] * pool.reserve1[0] >= k_before[0] * (1 - 1e-15)


PROFILE = {199_800: 4e17, 199_980: 2e18, 200_280: 5e18, 200_700: -5e18, 201_000: -2e18, 201_180: -4e17}


def _pool_tokens(state, params):
    """What the pool holds for its liquidity at the current price, range by range (SqrtPriceMath)."""
    ticks = state.ticks[0]
    active = np.cumsum(state.liquidity_net[0])
    held0 = held1 = 0.0
    for i in range(len(ticks) - 1):
        if active[i] > 0:
            a0, a1 = get_amounts_for_liquidity(
                state.sqrt_price,
                get_sqrt_ratio_at_tick(ticks[i : i + 1]),
                get_sqrt_ratio_at_tick(ticks[i + 1 : i + 2]),
                active[i : i + 1],
            )
            held0, held1 = held0 + a0[0], held1 + a1[0]
    return held0, held1


@settings(max_examples=60, deadline=None)
@given(swaps)
def test_v3_tokens_are_conserved_between_traders_liquidity_and_fees(trades):
    params = v3.V3PoolParams(fee_pips=3000)
    state = v3.initial_state(np, 1, params, float(get_sqrt_ratio_at_tick(np.array([200_500]))[0]), PROFILE)
    balance0, balance1 = _pool_tokens(state, params)
    fees0 = fees1 = 0.0
    flow0, flow1 = balance0, balance1  # float64 sums of flows this large are good to ~1e-15 of them
    for sell0, log_amount in trades:
        result = v3.swap(
            state,
            params,
            np.array([sell0]),
            np.array([10**log_amount * (1.0 if sell0 else 5e8)]),
            v3.default_price_limit(np.array([sell0])),
            ONE,
        )
        assert result.amount_out[0] >= 0 and result.amount_in[0] >= 0
        if sell0:
            balance0, balance1, fees0 = (
                balance0 + result.amount_in[0],
                balance1 - result.amount_out[0],
                fees0 + result.fee[0],
            )
        else:
            balance1, balance0, fees1 = (
                balance1 + result.amount_in[0],
                balance0 - result.amount_out[0],
                fees1 + result.fee[0],
            )
        moved0, moved1 = (
            (result.amount_in[0], result.amount_out[0]) if sell0 else (result.amount_out[0], result.amount_in[0])
        )
        flow0, flow1 = flow0 + moved0, flow1 + moved1
        tol0, tol1 = 1e-12 * flow0 + 4 * len(trades), 1e-12 * flow1 + 4 * len(trades)
        assert balance0 >= -tol0 and balance1 >= -tol1  # never paid out more than it held
        held0, held1 = _pool_tokens(state, params)
        # what came in minus what went out is the liquidity's principal at the new price plus fees
        assert abs(balance0 - held0 - fees0) <= tol0
        assert abs(balance1 - held1 - fees1) <= tol1


aave_actions = st.lists(
    st.tuples(
        st.sampled_from(["supply", "borrow", "repay", "withdraw", "wait"]),
        st.integers(0, 1),
        st.integers(0, 2),
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(aave_actions)
def test_aave_cash_is_conserved_and_never_negative(actions):
    params = aave.aave_params(np, aave_reserve_params())
    state = aave.initial_state(np, 1, 2, 3, 1.7e9)
    prices = np.array([[1e8, 2e11, 8e12]])
    units = np.array([1e6, 1e18, 1e8])
    now = np.array([1.7e9])
    cash = np.zeros(3)  # what came into each reserve minus what went out
    for action, account, r, frac in actions:
        amount = np.array([frac * 1e6 / (prices[0, r] / 1e8) * units[r]])
        if action == "supply":
            if aave.supply(state, params, account, r, amount, now, ONE)[0] == 0:
                cash[r] += amount[0]
        elif action == "borrow":
            if aave.borrow(state, params, prices, account, r, amount, now, ONE)[0] == 0:
                cash[r] -= amount[0]
        elif action == "repay":
            paid, _ = aave.repay(state, params, account, r, amount, now, ONE)
            cash[r] += paid[0]
        elif action == "withdraw":
            taken, _ = aave.withdraw(state, params, prices, account, r, amount, now, ONE)
            cash[r] -= taken[0]
        else:
            now = now + frac * 90 * 86400
        assert np.all(state.available_liquidity >= -1e-6)
        np.testing.assert_allclose(state.available_liquidity[0], cash, rtol=1e-12, atol=1e-3)
        for a in range(2):
            hf = aave.account_data(state, params, prices, a, now).health_factor[0]
            assert hf >= 1.0 or action == "wait"  # only time (interest) can push an account under 1
