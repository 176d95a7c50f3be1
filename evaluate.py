"""Evaluate trained policies and scripted baselines side by side on any backend.

    python evaluate.py policy=outputs/<run>/model.zip backend=evm eval.episodes=8
    python evaluate.py backend=anvil backend.fork_url=http://127.0.0.1:8545   # on a fork of that chain
    python evaluate.py eval.policies='[baseline:passive_lp,baseline:tau_reset_lp]' driver=gbm

Writes report.json (metrics per policy), trajectories_<policy>.csv and plots into the run directory,
prints a table, and prints the report's path as its last line.
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from tqdm import tqdm

from agents.config import check, env_kwargs, register
from agents.evaluation import format_table, run_episodes, write_report
from agents.policy import load_policy, policy_name
from envs.roles.liquidity_provider import LiquidityProvider

register()


def evaluate(cfg, out_dir: Path, backend: str) -> Path:
    specs = ([cfg.policy] if cfg.policy else []) + list(cfg.eval.policies)
    e = cfg.env
    role = LiquidityProvider(tuple(e.half_widths), e.action_type, e.reward, e.gas_price_gwei, e.gas_usd_per_rebalance)
    kwargs = env_kwargs(cfg, cfg.eval.window)
    policies = {policy_name(spec): load_policy(spec, role, cfg.device) for spec in specs}  # fail before running
    results = {}
    with tqdm(total=len(policies) * cfg.eval.episodes * e.horizon, desc=f"evaluating on {backend}", unit="step",
              mininterval=0.5 if sys.stderr.isatty() else 30) as bar:
        for name, policy in policies.items():
            results[name] = run_episodes(policy, kwargs, backend, cfg.eval.episodes, cfg.eval.seed,
                                         fork_url=cfg.backend.fork_url, progress=bar)
    settings = {"backend": backend, "episodes": cfg.eval.episodes, "window": list(cfg.eval.window),
                "seed": cfg.eval.seed, "config": OmegaConf.to_container(cfg, resolve=True)}
    return write_report(out_dir, results, settings, cfg.eval.plots)


@hydra.main(config_path="configs", config_name="config", version_base="1.3")
def main(cfg) -> None:
    check(cfg)
    path = evaluate(cfg, Path(HydraConfig.get().runtime.output_dir), cfg.backend.name)
    import json

    print(format_table(json.loads(path.read_text())))
    print(path)


if __name__ == "__main__":
    main()
