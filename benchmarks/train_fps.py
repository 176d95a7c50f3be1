"""stable-baselines3 PPO training frames per second on the batched VecEnv; prints one JSON object per line.

    python benchmarks/train_fps.py [--timesteps 100000] [--device cpu cuda]

Also measures env-level steps per second of defigym/UniswapV3LP-v0 through the VecEnv (random
actions) at batch 1, 64 and 4096, beside the raw simulator world step, so the wrapper's cost shows.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from agents.vec_env import SB3VecEnv
from envs.backends.arrays import array_backend
from envs.backends.sim import UniswapV3World
from envs.drivers import GBMDriver
from envs.uniswap_v3_lp import UniswapV3LPVectorEnv


def emit(name, backend, batch, value, unit, **extra):
    print(json.dumps({"name": name, "backend": backend, "batch": batch, "value": round(value, 1), "unit": unit,
                      "machine": f"{platform.machine()} {platform.node()}", **extra}), flush=True)


def vec_env_steps(batch: int, steps: int) -> float:
    env = SB3VecEnv(UniswapV3LPVectorEnv(num_envs=batch, horizon=10_000, driver="gbm", initial_half_width=400))
    env.reset()
    holds = np.zeros(batch, np.int64)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(holds)
    return batch * steps / (time.perf_counter() - start)


def raw_world_steps(batch: int, steps: int) -> float:
    world = UniswapV3World(batch, GBMDriver(dt=3600.0), backend=array_backend("numpy"))
    world.reset(np.random.default_rng(0))
    world.rebalance(np.full(batch, 400), np.ones(batch, bool))
    start = time.perf_counter()
    for _ in range(steps):
        world.step()
    return batch * steps / (time.perf_counter() - start)


def ppo_fps(timesteps: int, device: str, num_envs: int = 64) -> float:
    from stable_baselines3 import PPO

    env = SB3VecEnv(UniswapV3LPVectorEnv(num_envs=num_envs, horizon=720, driver="gbm"))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=512, n_epochs=10, device=device, verbose=0)
    start = time.perf_counter()
    model.learn(timesteps)
    return timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--device", nargs="+", default=["cpu"])
    args = parser.parse_args()
    for batch, steps in ((1, 300), (64, 300), (4096, 60)):
        raw, wrapped = raw_world_steps(batch, steps), vec_env_steps(batch, steps)
        emit("v3_world_step_raw", "numpy", batch, raw, "world-steps/s")
        emit("uniswap_v3_lp_vec_env_step", "numpy", batch, wrapped, "env-steps/s", raw_over_wrapped=round(raw / wrapped, 2))
    for device in args.device:
        emit("ppo_train_fps", "numpy", 64, ppo_fps(args.timesteps, device), "frames/s", device=device, policy="MlpPolicy")


if __name__ == "__main__":
    main()
