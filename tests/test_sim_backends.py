"""numpy and torch run the same simulator code and give the same numbers on the same inputs."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from envs.arrays import array_backend
from envs.assets import aave_reserve_params
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.uniswap_v2 import pair as v2
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.tick_math import get_tick_at_sqrt_ratio

N = 64
PROFILE = {199000: 2e17, 200000: 3e18, 200400: 6e18, 200800: -6e18, 201200: -3e18, 202000: -2e17}


def _v3_run(backend_name: str):
    b = array_backend(backend_name, "cpu")
    rng = np.random.default_rng(0)
    params = v3.V3PoolParams(fee_pips=500)
    s = v3.initial_state(b.xp, N, params, 22_300.0, PROFILE, b.device)
    for step in range(30):
        z41_np = rng.integers(0, 2, N).astype(bool)
        z41 = b.asarray(z41_np, dtype=b.xp.bool)
        amount = b.asarray(10 ** rng.uniform(8, 11.3, N) * np.where(z41_np, 1.0, 5e8))
        v3.swap(s, params, z41, amount, v3.default_price_limit(z41), b.asarray(rng.random(N) < 0.9, dtype=b.xp.bool))
        if step % 10 == 3:
            tick = b.to_numpy(s.tick)
            lower = b.asarray((tick // 10 - 20) * 10, dtype=b.xp.int64)
            v3.modify_position(
                s,
                params,
                b.asarray(np.zeros(N), dtype=b.xp.int64),
                lower,
                lower + 400,
                b.asarray(np.full(N, 1e17)),
                b.asarray(np.ones(N, bool), dtype=b.xp.bool),
            )
        if step % 10 == 8:
            slot = b.asarray(np.zeros(N), dtype=b.xp.int64)
            liq = s.position_liquidity[:, 0] * 1.0
            v3.modify_position(s, params, slot, s.position_lower[:, 0], s.position_upper[:, 0], -liq, liq > 0)
            v3.collect(s, slot, b.asarray(np.ones(N, bool), dtype=b.xp.bool))
    return {f.name: b.to_numpy(getattr(s, f.name)) for f in fields(s)}


def _aave_run(backend_name: str):
    b = array_backend(backend_name, "cpu")
    rng = np.random.default_rng(1)
    params = aave.aave_params(b.xp, aave_reserve_params(), b.device)
    s = aave.initial_state(b.xp, N, 2, 3, 1.7e9, b.device)
    prices = b.asarray(np.tile([1e8, 2e11, 8e12], (N, 1)))
    now, ones = b.asarray(np.full(N, 1.7e9)), b.asarray(np.ones(N, bool), dtype=b.xp.bool)
    aave.supply(s, params, 1, 0, b.asarray(np.full(N, 5e13)), now, ones)
    aave.supply(s, params, 0, 1, b.asarray(10 ** rng.uniform(18, 21, N)), now, ones)
    aave.borrow(s, params, prices, 0, 0, b.asarray(10 ** rng.uniform(8, 12, N)), now, ones)
    later = now + 86400 * 30
    prices = prices * b.asarray(np.array([1.0, 0.6, 1.0]))
    aave.liquidation_call(s, params, prices, 0, 1, 0, b.asarray(np.full(N, np.inf)), later, ones)
    aave.repay(s, params, 0, 0, b.asarray(np.full(N, 1e9)), later + 12, ones)
    return {f.name: b.to_numpy(getattr(s, f.name)) for f in fields(s)}


def _v2_run(backend_name: str):
    b = array_backend(backend_name, "cpu")
    rng = np.random.default_rng(2)
    s = v2.initial_state(b.xp, N, 5e12, 2.5e21, device=b.device)
    for _ in range(20):
        v2.swap(
            s,
            b.asarray(rng.random(N) < 0.5, dtype=b.xp.bool),
            b.asarray(10 ** rng.uniform(6, 12, N)),
            b.asarray(np.ones(N, bool), dtype=b.xp.bool),
        )
    return {"reserve0": b.to_numpy(s.reserve0), "reserve1": b.to_numpy(s.reserve1)}


@pytest.mark.parametrize("run", [_v3_run, _aave_run, _v2_run], ids=["uniswap_v3", "aave_v3", "uniswap_v2"])
def test_numpy_and_torch_agree(run):
    on_numpy, on_torch = run("numpy"), run("torch")
    for name, value in on_numpy.items():
        np.testing.assert_allclose(on_torch[name], value, rtol=1e-12, atol=0, err_msg=name)


def test_tick_at_sqrt_ratio_is_exact_at_tick_boundaries():
    from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick

    ticks = np.arange(-887000, 887000, 7919)
    assert (get_tick_at_sqrt_ratio(get_sqrt_ratio_at_tick(ticks)) == ticks).all()
    assert (get_tick_at_sqrt_ratio(get_sqrt_ratio_at_tick(ticks) * (1 - 1e-14)) == ticks - 1).all()


def test_unknown_backend_and_missing_cuda_are_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        array_backend("jax")
    with pytest.raises(ValueError, match="CPU only"):
        array_backend("numpy", "cuda")
