"""Simulator world-steps per second; prints one JSON object per line.

    python benchmarks/sim_throughput.py [--batches 1 64 4096] [--backend numpy torch] [--steps 200]

Each world step: the reference price moves (GBM), the arbitrageur trades the pool to the new
price's no-trade band, two noise traders swap, and one LP position's fees are read. For
comparison the same world is stepped one instance at a time in a Python loop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from report import emit

from envs.arrays import array_backend
from envs.drivers import GBMDriver
from envs.worlds.sim import UniswapV3World


def world_steps_per_second(backend: str, batch: int, steps: int, device: str | None = None) -> float:
    world = UniswapV3World(batch, GBMDriver(s0=2000.0, sigma=0.8, dt=60.0), backend=array_backend(backend, device))
    world.reset(np.random.default_rng(0), agent_usd=100_000.0)
    world.rebalance(np.full(batch, 600), np.ones(batch, bool))  # one LP position, 600 ticks either side
    for _ in range(3):  # warm-up
        world.step()
    sync = _sync(world)
    start = time.perf_counter()
    for _ in range(steps):
        world.step()
        world.agent_fees()
    sync()
    return batch * steps / (time.perf_counter() - start)


def _sync(world):
    if world.b.name == "torch" and world.b.device.type == "cuda":
        import torch

        return torch.cuda.synchronize
    return lambda: None


def one_at_a_time(steps: int, instances: int = 8) -> float:
    """The same world, batch 1, each instance stepped in turn from a Python loop."""
    worlds = []
    for i in range(instances):
        w = UniswapV3World(1, GBMDriver(s0=2000.0, sigma=0.8, dt=60.0))
        w.reset(np.random.default_rng(i), agent_usd=100_000.0)
        w.rebalance(np.full(1, 600), np.ones(1, bool))
        worlds.append(w)
    start = time.perf_counter()
    for _ in range(steps):
        for w in worlds:
            w.step()
            w.agent_fees()
    return instances * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--backend", nargs="+", default=["numpy", "torch"])
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present)")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    loop = one_at_a_time(max(args.steps // 2, 50))
    emit("v3_world_step_loop", "numpy", 1, loop, "world-steps/s", note="one instance at a time in a Python loop")
    for backend in args.backend:
        for batch in args.batches:
            rate = world_steps_per_second(backend, batch, args.steps, args.device if backend == "torch" else None)
            emit("v3_world_step", backend, batch, rate, "world-steps/s", speedup_vs_loop=round(rate / loop, 1))


if __name__ == "__main__":
    main()
