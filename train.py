"""Train an agent with stable-baselines3 on the batched simulator, then evaluate it against baselines.

    python train.py                                   # PPO on UniswapV3LP, real ETH/USD (train window)
    python train.py agent=dqn train.total_timesteps=100000 seed=3
    python train.py env=cex_dex_arbitrage driver=gbm driver.dt=12   # the CEX-DEX arbitrageur, per block
    python train.py env=aave_leverage                 # a leveraged Aave position; env=aave_liquidator
    python train.py env=defi_market env.train_role=liquidator   # one policy for every liquidator of the market
    python train.py backend=torch device=cuda         # worlds and policy on the GPU
    python train.py -m seed=0,1,2 agent=ppo,a2c       # a grid; summary.md ranks the runs
    python train.py -m hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0,1   # in parallel
    python train.py -m hparams_search=ppo_optuna      # Optuna search over PPO's hyperparameters

Everything lands in the Hydra run directory: the resolved config (.hydra/), model.zip,
vecnormalize.pkl, best_model.zip (by validation reward), TensorBoard logs (tb/), train_metrics.json
and, unless train.evaluate_after=false, the evaluation report (eval/report.json).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from agents.config import MARKET_ENV, check, env_classes, env_kwargs, register
from agents.multi_agent import RoleVecEnv, other_policies
from agents.evaluation import format_table
from agents.policy import BEST_NORMALIZATION_FILE, NORMALIZATION_FILE, algo_class
from agents.vec_env import SB3VecEnv
from envs.defi_market_v0 import parallel_env
from evaluate import evaluate

register()


class SaveNormalizationWithBest(BaseCallback):
    """Keep best_model.zip's observation statistics beside it."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def _on_step(self) -> bool:
        normalizer = self.model.get_vec_normalize_env()
        if normalizer is not None:
            normalizer.save(str(self.path))
        return True


def make_vec_env(cfg, window, num_envs: int, training: bool):
    """N worlds of a single-agent env; or, for defi_market_v0, one market whose agents of
    ``env.train_role`` are the vector's slots (parameter sharing), the others playing given policies."""
    device = None if cfg.device == "auto" else cfg.device
    if cfg.env.id == MARKET_ENV:
        market = parallel_env(backend=cfg.backend.name, device=device, **env_kwargs(cfg, window))
        venv = RoleVecEnv(market, cfg.env.train_role, other_policies(market, cfg.env.train_role, dict(cfg.env.others)))
    else:
        _, vector_env = env_classes(cfg.env.id)
        venv = SB3VecEnv(vector_env(num_envs=num_envs, backend=cfg.backend.name, device=device,
                                    **env_kwargs(cfg, window)))
    env = VecMonitor(venv)
    env.seed(cfg.seed if training else cfg.seed + 10_000)
    if cfg.train.normalize:
        env = VecNormalize(env, training=training, norm_reward=training, gamma=cfg.agent.params.get("gamma", 0.99))
    return env


@hydra.main(config_path="configs", config_name="config", version_base="1.3")
def main(cfg) -> float | None:
    """Returns the best validation reward (the objective an Optuna sweep maximizes)."""
    check(cfg)
    if cfg.backend.name not in ("numpy", "torch"):
        raise ValueError(f"backend={cfg.backend.name}: train on the batched simulator (backend=numpy or torch); "
                         f"evaluate on evm or anvil with eval.backend= or evaluate.py backend=")
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    set_random_seed(cfg.seed)
    train_env = make_vec_env(cfg, cfg.train.window, cfg.train.num_envs, training=True)
    algo = algo_class(cfg.agent.algo)
    if cfg.train.resume:
        model = algo.load(cfg.train.resume, env=train_env, device=cfg.device, tensorboard_log=str(run_dir / "tb"))
        if cfg.train.normalize and (Path(cfg.train.resume).parent / NORMALIZATION_FILE).is_file():
            train_env = VecNormalize.load(str(Path(cfg.train.resume).parent / NORMALIZATION_FILE), train_env.venv)
            model.set_env(train_env)
    else:
        model = algo(cfg.agent.policy, train_env, seed=cfg.seed, device=cfg.device, verbose=0,
                     tensorboard_log=str(run_dir / "tb"), **cfg.agent.params)
    callbacks = []
    if cfg.train.eval_freq > 0:
        eval_env = make_vec_env(cfg, cfg.train.eval_window, cfg.train.eval_episodes, training=False)
        callbacks.append(EvalCallback(eval_env, n_eval_episodes=cfg.train.eval_episodes,
                                      eval_freq=max(cfg.train.eval_freq // train_env.num_envs, 1),
                                      best_model_save_path=str(run_dir), log_path=str(run_dir / "validation"),
                                      callback_on_new_best=SaveNormalizationWithBest(run_dir / BEST_NORMALIZATION_FILE),
                                      verbose=0))
    start = time.perf_counter()
    model.learn(cfg.train.total_timesteps, callback=callbacks, progress_bar=cfg.train.progress_bar,
                reset_num_timesteps=not cfg.train.resume)
    seconds = time.perf_counter() - start
    model.save(run_dir / "model.zip")
    if cfg.train.normalize:
        train_env.save(str(run_dir / NORMALIZATION_FILE))
    summary = {"timesteps": int(model.num_timesteps), "seconds": round(seconds, 1),
               "fps": round(cfg.train.total_timesteps / seconds, 1)}
    if callbacks:
        summary["best_validation_reward"] = float(callbacks[0].best_mean_reward)
    (run_dir / "train_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"trained {summary['timesteps']} steps in {summary['seconds']} s ({summary['fps']} steps/s): {run_dir}")
    if cfg.train.evaluate_after:
        cfg.policy = str(run_dir / "model.zip")
        report = evaluate(cfg, run_dir / "eval", cfg.eval.backend)
        print(format_table(json.loads(report.read_text())))
        print(report)
    return summary.get("best_validation_reward")


if __name__ == "__main__":
    main()
