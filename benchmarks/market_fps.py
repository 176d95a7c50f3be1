"""defi_market_v0 agent-steps per second with many markets batched (``envs.defi_market_v0.vector_env``):
random actions, the default agents (one LP, two arbitrageurs, one liquidator), one block per step.
Prints one JSON object per line; ``--profile`` adds the share of a block each part takes.

    python benchmarks/market_fps.py [--batches 1 64 1024] [--backends numpy torch] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from report import emit

from envs.defi_market_v0 import vector_env


def rate(backend: str, batch: int, steps: int, seed: int = 0) -> tuple[float, int]:
    """Agent-steps per second over ``steps`` blocks of ``batch`` markets (the reset outside the timing),
    and the number of agents."""
    env = vector_env(num_markets=batch, backend=backend, horizon=10_000, device="cpu" if backend == "torch" else None)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = [{a: rng.integers(env.action_space(a).n, size=batch) for a in env.possible_agents} for _ in range(steps)]
    env.step(actions[0])  # warm-up: first-call costs (imports, caches) stay out of the timing
    start = time.perf_counter()
    for block in actions:
        env.step(block)
    seconds = time.perf_counter() - start
    env.close()
    return len(env.possible_agents) * batch * steps / seconds, len(env.possible_agents)


def profile(backend: str, batch: int, steps: int) -> None:
    """cProfile of ``steps`` blocks: the functions with the most cumulative time, to stderr."""
    import cProfile
    import pstats
    import sys

    profiler = cProfile.Profile()
    profiler.enable()
    rate(backend, batch, steps)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--backends", nargs="+", default=["numpy", "torch"], choices=["numpy", "torch"])
    parser.add_argument("--steps", type=int, default=20, help="blocks timed per batch")
    parser.add_argument("--profile", action="store_true", help="a cProfile of the largest batch, to stderr")
    args = parser.parse_args()
    for backend in args.backends:
        for batch in args.batches:
            value, agents = rate(backend, batch, args.steps)
            emit("market_fps", backend, batch, value, "agent-steps/s", agents=agents, blocks=args.steps)
        if args.profile:
            profile(backend, max(args.batches), args.steps)


if __name__ == "__main__":
    main()
