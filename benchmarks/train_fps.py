"""stable-baselines3 PPO training frames per second on the batched VecEnv; prints one JSON object per line.

    python benchmarks/train_fps.py [--timesteps 100000] [--device cpu cuda]

Env-level steps per second of every env are in ``benchmarks/env_fps.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

from agents.threads import limit_threads
from agents.vec_env import SB3VecEnv
from envs.uniswap_v3_lp import UniswapV3LPVectorEnv


def emit(name, backend, batch, value, unit, **extra):
    print(json.dumps({"name": name, "backend": backend, "batch": batch, "value": round(value, 1), "unit": unit,
                      "machine": f"{platform.machine()} {platform.node()}", **extra}), flush=True)


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
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (train.py's train.threads)")
    args = parser.parse_args()
    limit_threads(args.threads)
    for device in args.device:
        emit("ppo_train_fps", "numpy", 64, ppo_fps(args.timesteps, device), "frames/s", device=device, policy="MlpPolicy",
             threads=args.threads)


if __name__ == "__main__":
    main()
