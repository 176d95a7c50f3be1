"""Evaluate trained policies and scripted baselines side by side on any backend.

    python evaluate.py policy=outputs/<run>/model.zip backend=evm eval.episodes=8
    python evaluate.py backend=anvil backend.fork_url=http://127.0.0.1:8545   # on a fork of that chain
    python evaluate.py backend=anvil backend.fork_url=$ETH_RPC_URL backend.fork_block=21000000 \
        backend.market=attach backend.addresses=ethereum          # on mainnet's own USDC/WETH pool, at a block
    python evaluate.py eval.policies='[baseline:passive_lp,baseline:tau_reset_lp]' driver=gbm
    python evaluate.py env=aave_leverage policy=outputs/<run>/model.zip     # against the role's baselines

A model.zip is run with the observation normalization saved beside it (best_vecnormalize.pkl for
best_model.zip); if that file is missing while the run trained with normalization, it stops, naming
the file, unless eval.allow_missing_normalization=true.

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

from agents import evaluation, market_evaluation, trading_evaluation
from agents.baselines import baselines_for
from agents.config import chain_kwargs, check, env_classes, env_kwargs, env_spec, register
from agents.evaluation import format_table
from agents.multi_agent import other_policies
from agents.policy import load_policy, policy_name
from envs.defi_market_v0 import agent_role

register()


def evaluate(cfg, out_dir: Path, backend: str) -> Path:
    e, kwargs, spec = cfg.env, env_kwargs(cfg, cfg.eval.window), env_spec(cfg)
    probe = env_classes(e.id)[0](backend="numpy", **kwargs)
    if spec.evaluation == "market":
        role = probe.role_of(next(a for a in probe.possible_agents if agent_role(a)[0] == e.train_role))
        others = other_policies(probe, e.train_role, dict(e.others), cfg.device, cfg.eval.allow_missing_normalization)
    else:
        role = probe.role
    probe.close()
    own = [f"baseline:{name}" for name in baselines_for(role)]
    if spec.evaluation == "lp":  # the LP's usual line-up; the other roles are scored against all of their baselines
        listed = list(cfg.eval.policies)
    else:  # eval.policies' checkpoints and this role's baselines (its defaults name the LP's)
        listed = list(dict.fromkeys([p for p in cfg.eval.policies if p in own or not p.startswith("baseline:")] + own))
    specs = ([cfg.policy] if cfg.policy else []) + listed
    allow = cfg.eval.allow_missing_normalization
    policies = {policy_name(spec): load_policy(spec, role, cfg.device, allow) for spec in specs}  # fail before running
    results: dict[str, evaluation.Trajectories] = {}  # the LP's and the trading roles' episodes, per policy
    market_results: dict[str, market_evaluation.MarketEpisodes] = {}  # the market's episodes, per policy
    with tqdm(
        total=len(policies) * cfg.eval.episodes * e.horizon,
        desc=f"evaluating on {backend}",
        unit="step",
        mininterval=0.5 if sys.stderr.isatty() else 30,
    ) as bar:
        for name, policy in policies.items():
            if spec.evaluation == "market":
                chain = {k: v for k, v in chain_kwargs(cfg).items() if k != "fork_url"}
                market_results[name] = market_evaluation.play(
                    policy,
                    others,
                    e.train_role,
                    kwargs,
                    backend,
                    cfg.eval.episodes,
                    cfg.eval.seed,
                    cfg.backend.fork_url,
                    bar,
                    chain,
                )
            elif spec.evaluation == "lp":
                chain = {k: v for k, v in chain_kwargs(cfg).items() if k != "fork_url"}
                results[name] = evaluation.run_episodes(
                    policy,
                    kwargs,
                    backend,
                    cfg.eval.episodes,
                    cfg.eval.seed,
                    fork_url=cfg.backend.fork_url,
                    progress=bar,
                    chain=chain,
                )
            else:
                chain = {k: v for k, v in chain_kwargs(cfg).items() if k != "fork_url"}
                results[name] = trading_evaluation.run_episodes(
                    policy, e.id, kwargs, backend, cfg.eval.episodes, cfg.eval.seed, cfg.backend.fork_url, bar, chain
                )
    settings = {
        "backend": backend,
        "env": e.id,
        "episodes": cfg.eval.episodes,
        "window": list(cfg.eval.window),
        "seed": cfg.eval.seed,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    if spec.evaluation == "market":
        return market_evaluation.write_report(out_dir, e.train_role, market_results, settings, cfg.eval.plots)
    ran_on = next((t.provenance for t in results.values() if getattr(t, "provenance", None)), None)
    if ran_on is not None:  # the pool acted on, the chain id and the block the fork started from
        settings["chain"] = ran_on
    if spec.evaluation == "lp":
        return evaluation.write_report(out_dir, results, settings, cfg.eval.plots)
    return trading_evaluation.write_report(out_dir, e.id, results, settings, cfg.eval.plots)


@hydra.main(config_path="configs", config_name="config", version_base="1.3")
def main(cfg) -> None:
    check(cfg, cfg.eval.window)
    path = evaluate(cfg, Path(HydraConfig.get().runtime.output_dir), cfg.backend.name)
    import json

    print(format_table(json.loads(path.read_text())))
    print(path)


if __name__ == "__main__":
    main()
