"""LP backtest throughput: S strategies, each its own 0.3% pool, through the same swaps; prints one JSON
object per line in swap x strategies per second.

    python benchmarks/lp_backtest.py [--strategies 1,100,1000,4096] [--swaps 2000]
                                     [--backends numpy kernel] [--compare ammbt]

The workload peer backtesters report on: pool price 1.0, external liquidity 1e7 over the full range,
exact-input swaps of about 1,000 token1-equivalent (log-normal sizes, either direction with
probability 1/2), each strategy a position of half-width 120 to 4,740 ticks funded with 500 of each
token and minted at the start. Amounts are raw units of 18-decimal tokens (1,000 tokens = 1e21), so
the contract's integer rounding is 1e-18 of a swap and a float model can be compared to 1e-9. The
figure counts the swaps and the final fee read (minting is set-up). Backends: ``numpy`` (the batched
array code), ``kernel`` (the compiled swap loop, envs/protocols/uniswap_v3/swap_kernel.py; its
answers are checked bit-identical to numpy's when both run). ``--compare ammbt`` runs ammBT's
Uniswap V3 kernel (the ``bench`` extra; the README's Benchmarks section installs it apart) on the
same swaps, one strategy per pool, and checks that every strategy's fees and final value agree with
defigym's to 1e-9 (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from report import emit

from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3 import swap_kernel
from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity, get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from envs.units import MAX_TICK, MIN_TICK

FEE, SPACING = 3000, 60
UNIT = 1e18  # raw units per token (18 decimals)
EXTERNAL_LIQUIDITY = 1e7 * UNIT
AGREEMENT = 1e-9  # relative, defigym vs ammBT


def swap_flow(swaps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(raw input amounts, zero_for_one): log-normal sizes of mean 1,000 tokens, directions 50/50."""
    rng = np.random.default_rng(seed)
    sizes = np.floor(np.exp(np.log(1_000.0) - 0.5 + rng.standard_normal(swaps)) * UNIT)
    return sizes, rng.random(swaps) < 0.5


def strategy_ranges(strategies: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower ticks, upper ticks, liquidity): half-widths 120-4,740 ticks around price 1.0, 500 of each token."""
    half = np.round(np.linspace(120, 4_740, strategies) / SPACING).astype(np.int64) * SPACING
    funds = np.full(strategies, 500.0 * UNIT)
    liquidity = np.floor(
        get_liquidity_for_amounts(
            np.ones(strategies), get_sqrt_ratio_at_tick(-half), get_sqrt_ratio_at_tick(half), funds, funds
        )
    )
    return -half, half, liquidity


def outcome(sqrt_price: np.ndarray, lower, upper, liquidity, fees0, fees1) -> dict[str, np.ndarray]:
    """Fees per token and the position's final value (principal plus fees) in token1 at the final price."""
    amount0, amount1 = get_amounts_for_liquidity(
        sqrt_price, get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper), liquidity
    )
    price = sqrt_price**2
    return {"fees0": fees0, "fees1": fees1, "value": (amount0 + fees0) * price + amount1 + fees1}


def backtest(backend: str, sizes: np.ndarray, zero_for_one: np.ndarray, lower, upper, liquidity):
    """(seconds the swaps and the fee read took, outcome) for one defigym backend."""
    strategies = lower.shape[0]
    params = v3.V3PoolParams(fee_pips=FEE, max_ticks=8, max_positions=1)
    low, high = MIN_TICK // SPACING * SPACING + SPACING, MAX_TICK // SPACING * SPACING
    state = v3.initial_state(np, strategies, params, 1.0, {low: EXTERNAL_LIQUIDITY, high: -EXTERNAL_LIQUIDITY})
    every, slot = np.ones(strategies, bool), np.zeros(strategies, np.int64)
    v3.mint(state, params, slot, lower, upper, liquidity, every)
    started = time.perf_counter()
    if backend == "kernel":
        swap_kernel.swap_sequence(state, params, zero_for_one, sizes)
        fees0, fees1 = swap_kernel.position_fees(state, slot)
    else:
        for size, direction in zip(sizes, zero_for_one):
            z41 = np.full(strategies, direction)
            v3.swap(state, params, z41, np.full(strategies, size), v3.default_price_limit(z41), every)
        fees0, fees1 = v3.position_fees(state, slot)
    seconds = time.perf_counter() - started
    return seconds, outcome(state.sqrt_price, lower, upper, liquidity, fees0, fees1)


def backtest_ammbt(sizes: np.ndarray, zero_for_one: np.ndarray, lower, upper, liquidity):
    """The same backtest in ammBT's V3 simulator, one call (one pool) per strategy, no rebalancing.

    ammBT settles a position's fees after each swap from the second on, so the flow starts with an
    empty swap; each position gets defigym's liquidity (ammBT's own sizing rounds differently)."""
    try:
        import pandas as pd
        from ammbt.amms.univ3 import UniswapV3Simulator
    except ImportError as err:
        raise SystemExit(
            f"--compare ammbt needs ammBT 0.2.0 ({err}); install it apart from the project's environment "
            "as the README's Benchmarks section shows"
        ) from err

    flow = pd.DataFrame(
        {
            "amount0": np.concatenate([[0.0], np.where(zero_for_one, sizes, 0.0)]),
            "amount1": np.concatenate([[0.0], np.where(zero_for_one, 0.0, sizes)]),
        }
    )
    simulator = UniswapV3Simulator(initial_price=1.0, initial_liquidity=EXTERNAL_LIQUIDITY, fee_tier=FEE)
    kinds = [
        ("initial_capital", "f8"),
        ("tick_lower", "i4"),
        ("tick_upper", "i4"),
        ("rebalance_threshold", "f8"),
        ("rebalance_frequency", "i4"),
    ]
    fees0, fees1, sqrt_price = (np.zeros(lower.shape[0]) for _ in range(3))
    seconds = 0.0
    for j in range(lower.shape[0]):
        strategy = np.array([(1_000.0 * UNIT, lower[j], upper[j], 0.0, 0)], dtype=kinds)
        positions = simulator.initialize_positions(1, len(flow), strategy)
        positions[0, 0]["liquidity"] = liquidity[j]
        started = time.perf_counter()
        positions, history = simulator.simulate(flow, positions, strategy)
        seconds += time.perf_counter() - started
        fees0[j], fees1[j] = positions[-1, 0]["uncollected_fees_0"], positions[-1, 0]["uncollected_fees_1"]
        sqrt_price[j] = history["sqrt_price_history"][-1] / 2.0**96
    return seconds, outcome(sqrt_price, lower, upper, liquidity, fees0, fees1)


def max_relative_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |a - b| / |b| over the strategies, per quantity (a raw unit of absolute slack)."""
    return {k: float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(b[k]), 1.0))) for k in b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=["1,100,1000,4096"], help="batch sizes (commas or spaces)")
    parser.add_argument("--swaps", type=int, default=2_000)
    parser.add_argument("--backends", nargs="+", default=["numpy", "kernel"], choices=["numpy", "kernel"])
    parser.add_argument("--compare", choices=["ammbt"], help="also run ammBT on the same swaps and check answers")
    args = parser.parse_args()
    batches = [int(s) for arg in args.strategies for s in arg.split(",") if s]
    sizes, zero_for_one = swap_flow(args.swaps)
    warm = strategy_ranges(2)  # compile (or load) the kernels before timing
    backtest("kernel", sizes[:4], zero_for_one[:4], *warm)
    if args.compare:
        backtest_ammbt(sizes[:4], zero_for_one[:4], *warm)
    disagree = False
    for strategies in batches:
        ranges = strategy_ranges(strategies)
        results = {}
        for backend in args.backends:
            seconds, results[backend] = backtest(backend, sizes, zero_for_one, *ranges)
            emit(
                "lp_backtest",
                backend,
                strategies,
                args.swaps * strategies / seconds,
                "swap_strategies/s",
                swaps=args.swaps,
                seconds=round(seconds, 3),
                mean_fees=float(np.mean(results[backend]["fees1"])),
            )
        if len(results) == 2 and any(
            not np.array_equal(results["numpy"][k], results["kernel"][k]) for k in results["numpy"]
        ):
            print(f"kernel and numpy answers differ at {strategies} strategies", file=sys.stderr)
            disagree = True
        if args.compare:
            seconds, theirs = backtest_ammbt(sizes, zero_for_one, *ranges)
            ours = results[args.backends[-1]]
            difference = max_relative_difference(ours, theirs)
            agree = max(difference.values()) <= AGREEMENT
            disagree |= not agree
            emit(
                "lp_backtest",
                "ammbt",
                strategies,
                args.swaps * strategies / seconds,
                "swap_strategies/s",
                swaps=args.swaps,
                seconds=round(seconds, 3),
                mean_fees=float(np.mean(theirs["fees1"])),
                max_rel_diff={k: float(f"{v:.2e}") for k, v in difference.items()},
                agree=agree,
            )
    sys.exit(1 if disagree else 0)


if __name__ == "__main__":
    main()
