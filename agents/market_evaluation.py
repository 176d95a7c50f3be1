"""Score policies for one role of ``defi_market_v0``: each candidate plays every agent of the role
(shared parameters, as trained) against the same other agents and price paths, and the report gives
the role's PnL per agent, and what the other agents made beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agents.evaluation import _safe
from envs.defi_market_v0 import agent_role, parallel_env


def play(
    policy,
    others: dict,
    train_role: str,
    env_kwargs: dict,
    backend: str,
    episodes: int,
    seed: int,
    fork_url: str | None = None,
    progress=None,
    chain: dict | None = None,
) -> dict[str, np.ndarray]:
    """Per agent, its reward summed over each episode: {agent: (episodes,)}. ``chain`` (evm/anvil):
    ``fork_block`` and, in attach mode, ``addresses``."""
    totals: dict[str, list[float]] = {}
    env = parallel_env(backend=backend, fork_url=fork_url, **(chain or {}), **env_kwargs)  # one chain, all episodes
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        episode = {a: 0.0 for a in env.possible_agents}
        while env.agents:
            actions = {
                a: (policy if agent_role(a)[0] == train_role else others[a]).predict(obs[a], deterministic=True)[0]
                for a in env.agents
            }
            obs, rewards, *_ = env.step(actions)
            for a, r in rewards.items():
                episode[a] += r
            if progress is not None:
                progress.update(1)
        for a, r in episode.items():
            totals.setdefault(a, []).append(r)
    env.close()
    return {a: np.asarray(r) for a, r in totals.items()}


def metrics(totals: dict[str, np.ndarray], train_role: str) -> dict[str, float]:
    role = np.stack([r for a, r in totals.items() if agent_role(a)[0] == train_role])  # (agents, episodes)
    per_agent_episode = role.mean(axis=0)
    out = {
        "pnl_usd": float(per_agent_episode.mean()),
        "pnl_usd_std": float(per_agent_episode.std()),
        "role_agents": int(role.shape[0]),
        "episodes": int(role.shape[1]),
    }
    return out | {f"pnl_usd_of_{a}": float(r.mean()) for a, r in totals.items() if agent_role(a)[0] != train_role}


def write_report(out_dir: Path, train_role: str, results: dict[str, dict[str, np.ndarray]], settings: dict) -> Path:
    """report.json (metrics per policy) and episodes_<policy>.csv (each agent's episode PnL)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"settings": settings, "policies": {name: metrics(t, train_role) for name, t in results.items()}}
    for name, totals in results.items():
        agents = list(totals)
        np.savetxt(
            out_dir / f"episodes_{_safe(name)}.csv",
            np.column_stack([totals[a] for a in agents]),
            delimiter=",",
            header=",".join(agents),
            comments="",
            fmt="%.10g",
        )
    path = out_dir / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
