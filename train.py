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

Everything lands in the Hydra run directory: the resolved config (.hydra/), model.zip with
vecnormalize.pkl and model.meta.json, best_model.zip (by validation reward) with
best_vecnormalize.pkl and best_model.meta.json, TensorBoard logs (tb/), train_metrics.json and,
unless train.evaluate_after=false, the evaluation report (eval/report.json). Ctrl-C saves model.zip
and its normalization and metadata before exiting; train.resume=<that model.zip> continues.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from agents.config import check, env_classes, env_kwargs, env_spec, learning_role, register
from agents.evaluation import format_table
from agents.league import make_league
from agents.multi_agent import RoleVecEnv, other_policies
from agents.policy import (
    algo_class,
    default_normalization_file,
    missing_normalization,
    normalization_file,
    read_checkpoint,
    write_metadata,
)
from agents.threads import limit_threads
from agents.vec_env import SB3VecEnv
from envs import defi_market_v0
from evaluate import evaluate

register()


def save_extras(cfg, model: BaseAlgorithm, path: Path) -> None:
    """Beside the checkpoint ``path`` (already saved): its normalization (if any) and its metadata."""
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        normalizer.save(str(path.parent / default_normalization_file(path)))
    write_metadata(
        path,
        env_id=cfg.env.id,
        role=learning_role(cfg),
        algo=cfg.agent.algo,
        env_config=OmegaConf.to_container(cfg.env, resolve=True),
        normalize=normalizer is not None,
        timesteps=int(model.num_timesteps),
        config_file=path.parent / ".hydra" / "config.yaml",
    )


def save_checkpoint(cfg, model: BaseAlgorithm, path: Path) -> None:
    """``path`` (e.g. model.zip) with its normalization and metadata beside it."""
    model.save(path)
    save_extras(cfg, model, path)


class SaveBestExtras(BaseCallback):
    """Keep best_model.zip's observation statistics and metadata beside it (EvalCallback saves the zip)."""

    def __init__(self, cfg, path: Path):
        super().__init__()
        self.cfg, self.path = cfg, path

    def _on_step(self) -> bool:
        save_extras(self.cfg, self.model, self.path)
        return True


def resume_normalization(cfg) -> Path | None:
    """The normalization to resume with: the file saved beside ``train.resume`` (best_vecnormalize.pkl
    for best_model.zip). Missing while train.normalize=true, it is an error unless
    train.allow_missing_normalization=true (then statistics start afresh)."""
    if not cfg.train.resume:
        return None
    path = Path(cfg.train.resume)
    if not path.is_file():
        raise FileNotFoundError(f"train.resume={path}: no such file; pass a model.zip or best_model.zip a run wrote")
    trained_on = read_checkpoint(path).get("env_id")
    if trained_on not in (None, cfg.env.id):
        raise ValueError(
            f"train.resume={path} was trained on {trained_on!r}, not env.id={cfg.env.id!r}: "
            f"pick its env (env=...) or another checkpoint"
        )
    if not cfg.train.normalize:
        return None
    norm = normalization_file(path)
    if norm.is_file():
        return norm
    if cfg.train.allow_missing_normalization:
        print(
            f"warning: resuming {path} with fresh normalization statistics ({norm.name} is missing), as asked",
            file=sys.stderr,
        )
        return None
    raise FileNotFoundError(
        missing_normalization(path, norm, "train.allow_missing_normalization=true") + " (statistics then start afresh)"
    )


def make_vec_env(cfg, window, num_envs: int, training: bool):
    """N worlds of a single-agent env; or, for defi_market_v0, N markets whose agents of
    ``env.train_role`` are the vector's slots (parameter sharing), the others playing given policies
    (in training, the agents of roles with snapshots in ``env.league.pool`` play snapshots drawn at every
    reset; validation keeps env.others and the defaults, so validations compare)."""
    device = None if cfg.device == "auto" else cfg.device
    if env_spec(cfg).role is None:  # the market: env.train_role learns
        market = defi_market_v0.vector_env(
            num_markets=num_envs, backend=cfg.backend.name, device=device, **env_kwargs(cfg, window)
        )
        others = other_policies(
            market,
            cfg.env.train_role,
            dict(cfg.env.others),
            allow_missing_normalization=cfg.eval.allow_missing_normalization,
        )
        league = (
            make_league(
                market,
                cfg.env.train_role,
                list(cfg.env.league.pool),
                cfg.env.league.sampling,
                dict(cfg.env.others),
                allow_missing_normalization=cfg.eval.allow_missing_normalization,
            )
            if training
            else None
        )
        venv = RoleVecEnv(market, cfg.env.train_role, others, league=league)
    else:
        _, vector_env = env_classes(cfg.env.id)
        venv = SB3VecEnv(
            vector_env(num_envs=num_envs, backend=cfg.backend.name, device=device, **env_kwargs(cfg, window))
        )
    env = VecMonitor(venv)
    env.seed(cfg.seed if training else cfg.seed + 10_000)
    if cfg.train.normalize:
        env = VecNormalize(env, training=training, norm_reward=training, gamma=cfg.agent.params.get("gamma", 0.99))
    return env


def co_train_and_evaluate(cfg, run_dir: Path) -> None:
    """env.train_roles: every listed role learns in the same markets; then each role's policy is evaluated
    against its baselines with the other learned roles playing their new policies."""
    from agents.co_training import co_train
    from agents.rllib_trainer import rllib_co_train

    if cfg.env.league.pool:
        raise ValueError(
            "env.league.pool draws the opponents of single-role training (env.train_role); co-training "
            "(env.train_roles) plays env.others: leave env.league.pool empty, or train one role"
        )
    set_random_seed(cfg.seed)
    saved = (rllib_co_train if cfg.trainer.name == "rllib" else co_train)(cfg, run_dir)
    if not cfg.train.evaluate_after:
        return
    probe = defi_market_v0.parallel_env(**env_kwargs(cfg, cfg.eval.window))
    for role, path in saved.items():
        role_cfg = copy.deepcopy(cfg)
        role_cfg.env.train_role, role_cfg.policy = role, str(path)
        learned = {
            a: str(saved[r])
            for a in probe.possible_agents
            if (r := defi_market_v0.agent_role(a)[0]) in saved and r != role
        }
        role_cfg.env.others = dict(cfg.env.others) | learned
        report = evaluate(role_cfg, run_dir / "eval" / role, cfg.eval.backend)
        print(format_table(json.loads(report.read_text())))
        print(report)
    probe.close()


@hydra.main(config_path="configs", config_name="config", version_base="1.3")
def main(cfg) -> float | None:
    """Returns the best validation reward (the objective an Optuna sweep maximizes)."""
    check(cfg)
    if cfg.backend.name not in ("numpy", "torch"):
        raise ValueError(
            f"backend={cfg.backend.name}: train on the batched simulator (backend=numpy or torch); "
            f"evaluate on evm or anvil with eval.backend= or evaluate.py backend="
        )
    resumed_normalization = resume_normalization(cfg)  # before training starts, or fail now
    limit_threads(cfg.train.threads)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if env_spec(cfg).role is None and cfg.env.train_roles:  # several roles of the market learn together
        co_train_and_evaluate(cfg, run_dir)
        return None
    if cfg.agent.algo == "ppo_device":  # rollout, advantages and update on the torch device, not SB3's loop
        from agents.ppo_device import train_from_config

        return finish(cfg, run_dir, train_from_config(cfg, run_dir, resumed_normalization))
    set_random_seed(cfg.seed)
    train_env = make_vec_env(cfg, cfg.train.window, cfg.train.num_envs, training=True)
    algo = algo_class(cfg.agent.algo)
    if cfg.train.resume:
        if resumed_normalization is not None:
            train_env = VecNormalize.load(str(resumed_normalization), train_env.venv)
        model = algo.load(cfg.train.resume, env=train_env, device=cfg.device, tensorboard_log=str(run_dir / "tb"))
    else:
        model = algo(
            cfg.agent.policy,
            train_env,
            seed=cfg.seed,
            device=cfg.device,
            verbose=0,
            tensorboard_log=str(run_dir / "tb"),
            **cfg.agent.params,
        )
    callbacks = []
    if cfg.train.eval_freq > 0:
        eval_env = make_vec_env(cfg, cfg.train.eval_window, cfg.train.eval_episodes, training=False)
        callbacks.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=cfg.train.eval_episodes,
                eval_freq=max(cfg.train.eval_freq // train_env.num_envs, 1),
                best_model_save_path=str(run_dir),
                log_path=str(run_dir / "validation"),
                callback_on_new_best=SaveBestExtras(cfg, run_dir / "best_model.zip"),
                verbose=0,
            )
        )
    start = time.perf_counter()
    try:
        model.learn(
            cfg.train.total_timesteps,
            callback=callbacks,
            progress_bar=cfg.train.progress_bar,
            reset_num_timesteps=not cfg.train.resume,
        )
    except KeyboardInterrupt:
        save_checkpoint(cfg, model, run_dir / "model.zip")
        print(
            f"interrupted after {model.num_timesteps} steps: saved {run_dir / 'model.zip'} with its normalization "
            f"and metadata; continue with train.resume={run_dir / 'model.zip'}",
            file=sys.stderr,
        )
        sys.exit(130)
    seconds = time.perf_counter() - start
    save_checkpoint(cfg, model, run_dir / "model.zip")
    summary = {
        "timesteps": int(model.num_timesteps),
        "seconds": round(seconds, 1),
        "fps": round(cfg.train.total_timesteps / seconds, 1),
    }
    if callbacks:
        summary["best_validation_reward"] = float(callbacks[0].best_mean_reward)
    league = getattr(train_env.unwrapped, "league", None)
    if league is not None:  # which snapshots each league agent played, in how many episodes (resets)
        summary["league_episodes"] = {agent: dict(counts) for agent, counts in league.counts.items()}
    return finish(cfg, run_dir, summary)


def finish(cfg, run_dir: Path, summary: dict) -> float | None:
    """Write the run's summary (train_metrics.json), then evaluate the model on the test window
    (eval.*) unless told not to; returns the best validation reward, an Optuna sweep's objective."""
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
