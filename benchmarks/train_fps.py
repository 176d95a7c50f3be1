"""Training frames per second; prints one JSON object per line.

    python benchmarks/train_fps.py [--timesteps 32768] [--device cpu cuda] [--num-envs 4096 65536] [--no-sb3-lp]

In one run: stable-baselines3 PPO on the LP env (64 worlds, numpy simulator); stock SB3 PPO on
CartPole-v1 with 8 envs (its defaults: 2048-step rollouts, 10 epochs of 64-sample minibatches);
and the on-device PPO (``agents/ppo_device.py``) on a batched torch CartPole and on the LP env's
torch simulator, at each ``--num-envs`` and ``--device``, with its speed-up over that SB3 CartPole
run. Each device-PPO figure is timed after one warm-up update, over at least two rollouts.

Env-level steps per second of every env are in ``benchmarks/env_fps.py``.
"""

from __future__ import annotations

import argparse
import time

import torch
from report import emit

from agents.device_env import DeviceVecEnv, HostBoundaryEnv, TorchCartPole
from agents.ppo_device import DevicePPO, PPOParams
from agents.threads import limit_threads
from agents.vec_env import SB3VecEnv
from envs.uniswap_v3_lp import UniswapV3LPVectorEnv


def ppo_fps(timesteps: int, device: str, num_envs: int = 64) -> float:
    from stable_baselines3 import PPO

    env = SB3VecEnv(UniswapV3LPVectorEnv(num_envs=num_envs, horizon=720, driver="gbm"))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=512, n_epochs=10, device=device, verbose=0)
    start = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - start)  # at least one whole rollout


def sb3_cartpole_fps(timesteps: int, num_envs: int = 8) -> tuple[float, int]:
    """Stock SB3 PPO on CartPole-v1 (CPU); below one stock rollout (8 x 2048) the rollout is shortened
    to fit. Returns (frames/s, n_steps)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    n_steps = min(2048, max(timesteps // num_envs, 64))
    model = PPO(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=num_envs, seed=0),
        n_steps=n_steps,
        device="cpu",
        seed=0,
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - start), n_steps


def device_ppo_fps(env: DeviceVecEnv, params: PPOParams, timesteps: int) -> float:
    """Frames/s of the on-device PPO after one warm-up update, over at least two rollouts."""
    ppo = DevicePPO(env, params, normalize=True, seed=0)
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    ppo.learn(1)  # warm-up: one rollout and update
    sync()
    start, frames = time.perf_counter(), ppo.num_timesteps
    ppo.learn(max(timesteps, 2 * ppo.frames_per_rollout))
    sync()
    return (ppo.num_timesteps - frames) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=32_768, help="frames each run measures")
    parser.add_argument("--device", nargs="+", default=["cpu"], help="devices of the on-device PPO (and SB3 on the LP)")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[4096], help="batch sizes of the on-device PPO")
    parser.add_argument(
        "--lp-num-envs",
        type=int,
        nargs="*",
        default=[1024],
        help="batch sizes of the on-device PPO on the LP env's torch simulator (none: skip)",
    )
    parser.add_argument("--n-steps", type=int, default=16, help="on-device PPO rollout length")
    parser.add_argument("--n-epochs", type=int, default=4, help="on-device PPO epochs per update")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (train.py's train.threads)")
    parser.add_argument(
        "--sb3-lp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="SB3 PPO on the LP env (numpy simulator) at each --device",
    )
    args = parser.parse_args()
    limit_threads(args.threads)
    for device in args.device if args.sb3_lp else []:
        emit(
            "ppo_train_fps",
            "numpy",
            64,
            ppo_fps(args.timesteps, device),
            "frames/s",
            device=device,
            policy="MlpPolicy",
            threads=args.threads,
        )
    sb3, n_steps = sb3_cartpole_fps(args.timesteps)
    emit(
        "sb3_ppo_cartpole_fps",
        "gymnasium",
        8,
        sb3,
        "frames/s",
        device="cpu",
        n_steps=n_steps,
        n_epochs=10,
        batch_size=64,
        threads=args.threads,
    )
    params = PPOParams(n_steps=args.n_steps, n_epochs=args.n_epochs, n_minibatches=4)
    shape = {"n_steps": params.n_steps, "n_epochs": params.n_epochs, "n_minibatches": params.n_minibatches}
    for device in args.device:
        for batch in args.num_envs:
            fps = device_ppo_fps(TorchCartPole(batch, device), params, args.timesteps)
            emit(
                "ppo_device_cartpole_fps",
                "torch",
                batch,
                fps,
                "frames/s",
                device=device,
                threads=args.threads,
                speedup_vs_sb3_cartpole=round(fps / sb3, 1),
                **shape,
            )
        for batch in args.lp_num_envs:
            env = HostBoundaryEnv(
                UniswapV3LPVectorEnv(num_envs=batch, backend="torch", device=device, horizon=720, driver="gbm"), device
            )
            emit(
                "ppo_device_lp_fps",
                "torch",
                batch,
                device_ppo_fps(env, params, args.timesteps),
                "frames/s",
                device=device,
                threads=args.threads,
                **shape,
            )


if __name__ == "__main__":
    main()
