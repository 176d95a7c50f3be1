"""Env-level steps per second of every registered env through the stable-baselines3 VecEnv, beside the
raw market step of the same worlds (so the wrapper's cost shows), and defi_market_v0 agent-steps per
second. Prints one JSON object per line.

    python benchmarks/env_fps.py [--batches 1 64 4096] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from report import emit

from agents.vec_env import SB3VecEnv
from envs import defi_market_v0
from envs.aave_leverage import AaveLeverageVectorEnv
from envs.aave_liquidator import AaveLiquidatorVectorEnv
from envs.cex_dex_arbitrage import CexDexArbitrageVectorEnv
from envs.uniswap_v2_lp import UniswapV2LPVectorEnv
from envs.uniswap_v3_lp import UniswapV3LPVectorEnv

#: env id -> (vector env class, kwargs, the action every world takes: a hold or a typical move)
ENVS = {
    "UniswapV3LP-v0": (UniswapV3LPVectorEnv, {"initial_half_width": 400}, 0),
    "UniswapV2LP-v0": (UniswapV2LPVectorEnv, {}, 0),
    "CexDexArbitrage-v0": (CexDexArbitrageVectorEnv, {}, 4),
    "AaveLeverage-v0": (AaveLeverageVectorEnv, {}, 0),
    "AaveLiquidator-v0": (AaveLiquidatorVectorEnv, {}, 1),
}


def rates(env_id: str, batch: int, steps: int) -> tuple[float, float, float]:
    """Steps per second: through the VecEnv; of the episode core the VecEnv wraps (the same work,
    unwrapped); of the bare market step (the scripted traders alone, no agent)."""
    cls, kwargs, action = ENVS[env_id]
    vec = cls(num_envs=batch, horizon=10_000, **kwargs)
    env = SB3VecEnv(vec)
    env.reset()
    actions = np.full(batch, action, np.int64)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    wrapped = batch * steps / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(steps):
        vec.core.step(actions)
    core = batch * steps / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(steps):
        vec.core.market.step()
    return wrapped, core, batch * steps / (time.perf_counter() - start)


def multi_agent_steps(steps: int) -> float:
    env = defi_market_v0.parallel_env(horizon=10_000)
    env.reset(seed=0)
    actions = {a: 0 for a in env.possible_agents}
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    return len(env.possible_agents) * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    args = parser.parse_args()
    for env_id in args.envs:
        for batch in args.batches:
            steps = max(args.steps * min(64, batch) // batch, 10)  # fewer steps for large batches
            wrapped, core, market = rates(env_id, batch, steps)
            emit(
                f"{env_id}_vec_env_step",
                "numpy",
                batch,
                wrapped,
                "env-steps/s",
                core_step=round(core, 1),
                core_over_wrapped=round(core / wrapped, 2),
                market_step=round(market, 1),
            )
    emit(
        "defi_market_v0_step",
        "numpy",
        1,
        multi_agent_steps(args.steps),
        "agent-steps/s",
        agents=len(defi_market_v0.parallel_env().possible_agents),
    )


if __name__ == "__main__":
    main()
