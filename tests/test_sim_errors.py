"""Bad input to the simulator is a clear error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from envs.assets import aave_reserve_params
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.uniswap_v2 import pair as v2
from envs.protocols.uniswap_v3 import pool as v3

ONE = np.array([True])
PROFILE = {199_980: 1e18, 201_000: -1e18}


def _v3():
    params = v3.V3PoolParams(fee_pips=3000)
    return params, v3.initial_state(np, 1, params, 22_000.0, PROFILE)


@pytest.mark.parametrize("amount", [-1.0, np.nan])
def test_negative_or_nan_swap_amounts_are_refused(amount):
    params, state = _v3()
    with pytest.raises(ValueError, match="non-negative"):
        v3.swap(state, params, ONE, np.array([amount]), v3.default_price_limit(ONE), ONE)
    with pytest.raises(ValueError, match="non-negative"):
        v2.swap(v2.initial_state(np, 1, 1e12, 1e21), ONE, np.array([amount]), ONE)
    a = aave.aave_params(np, aave_reserve_params())
    with pytest.raises(ValueError, match="non-negative"):
        aave.supply(aave.initial_state(np, 1, 1, 3, 0.0), a, 0, 0, np.array([amount]), np.zeros(1), ONE)


def test_position_ticks_off_the_spacing_are_refused():
    params, state = _v3()
    with pytest.raises(ValueError, match="multiples of the tick spacing 60"):
        v3.modify_position(
            state, params, np.array([0]), np.array([200_010]), np.array([200_400]), np.array([1e15]), ONE
        )


def test_an_unknown_fee_tier_or_reserve_is_named():
    with pytest.raises(ValueError, match="not a fee tier"):
        v3.V3PoolParams(fee_pips=2500)
    with pytest.raises(KeyError, match="unknown reserve 'DAI'"):
        aave.aave_params(np, aave_reserve_params()).index("DAI")


def test_a_full_tick_row_asks_for_a_larger_max_ticks():
    params = v3.V3PoolParams(fee_pips=3000, max_ticks=2)
    state = v3.initial_state(np, 1, params, 22_000.0, PROFILE)
    with pytest.raises(ValueError, match="raise max_ticks"):
        v3.modify_position(
            state, params, np.array([0]), np.array([200_040]), np.array([200_400]), np.array([1e15]), ONE
        )


def test_burning_more_than_a_position_holds_is_refused():
    params, state = _v3()
    lower, upper = np.array([200_040]), np.array([200_400])
    v3.modify_position(state, params, np.array([0]), lower, upper, np.array([1e15]), ONE)
    with pytest.raises(ValueError, match="more liquidity than the position holds"):
        v3.modify_position(state, params, np.array([0]), lower, upper, np.array([-2e15]), ONE)
