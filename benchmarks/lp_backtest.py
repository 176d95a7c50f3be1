"""LP backtest throughput: S strategies, each its own 0.3% pool, through the same swaps; prints one JSON
object per line in swap x strategies per second.

    python benchmarks/lp_backtest.py [--strategies 1 100 1000 4096] [--swaps 2000]

The workload peer backtesters report on: pool price 1.0, external liquidity 1e7 over the full range,
exact-input swaps of about 1,000 token1-equivalent (log-normal sizes, either direction with
probability 1/2), each strategy a position of half-width 120 to 4,740 ticks minted at the start; the
figure counts the swaps only (fees are read once at the end).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import MAX_TICK, MIN_TICK, get_sqrt_ratio_at_tick

FEE, SPACING = 3000, 60


def emit(name: str, backend: str, batch: int, value: float, unit: str, **extra) -> None:
    print(json.dumps({"name": name, "backend": backend, "batch": batch, "value": round(value, 1), "unit": unit,
                      "machine": f"{platform.machine()} {os.cpu_count()} cores", **extra}), flush=True)


def backtest(strategies: int, swaps: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """(seconds the swaps took, each strategy's fees in token1 at price 1.0)."""
    params = v3.V3PoolParams(fee_pips=FEE, max_ticks=8, max_positions=1)
    low, high = MIN_TICK // SPACING * SPACING + SPACING, MAX_TICK // SPACING * SPACING
    state = v3.initial_state(np, strategies, params, 1.0, {low: 1e7, high: -1e7})
    half = np.round(np.linspace(120, 4_740, strategies) / SPACING).astype(np.int64) * SPACING
    lower, upper = -half, half
    liquidity = np.floor(get_liquidity_for_amounts(np.ones(strategies), get_sqrt_ratio_at_tick(lower),
                                                   get_sqrt_ratio_at_tick(upper), np.full(strategies, 500.0),
                                                   np.full(strategies, 500.0)))
    every = np.ones(strategies, bool)
    slot = np.zeros(strategies, np.int64)
    v3.mint(state, params, slot, lower, upper, liquidity, every)
    rng = np.random.default_rng(seed)
    sizes = np.exp(np.log(1_000.0) - 0.5 + rng.standard_normal(swaps))  # mean 1,000
    directions = rng.random(swaps) < 0.5
    started = time.perf_counter()
    for size, zero_for_one in zip(sizes, directions):
        z41 = np.full(strategies, zero_for_one)
        v3.swap(state, params, z41, np.full(strategies, size), v3.default_price_limit(z41), every)
    seconds = time.perf_counter() - started
    fees0, fees1 = v3.position_fees(state, slot)
    return seconds, fees0 + fees1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", type=int, nargs="+", default=[1, 100, 1000, 4096])
    parser.add_argument("--swaps", type=int, default=2_000)
    args = parser.parse_args()
    for strategies in args.strategies:
        seconds, fees = backtest(strategies, args.swaps)
        emit("lp_backtest", "numpy", strategies, args.swaps * strategies / seconds, "swap_strategies/s",
             swaps=args.swaps, seconds=round(seconds, 3), mean_fees=float(np.mean(fees)))


if __name__ == "__main__":
    main()
