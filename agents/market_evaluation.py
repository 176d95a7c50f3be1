"""Score policies for one role of ``defi_market_v0``: each candidate plays every agent of the role
(shared parameters, as trained) against the same other agents and price paths. The report gives, per
policy, the role's PnL per agent (the score runs compare), every role's and every agent's PnL with the
figures their infos carry, and the market's block accounts (who gained what on the pool's swaps, the
LPs' fees and LVR, the block producer's take), so a change in one role's policy shows where the money
it made or lost went. Plots: each role's PnL, each agent's, and the block accounts, per policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation import _safe
from envs.defi_market_v0 import agent_role, parallel_env

#: the market's accounts in every agent's info (identical across agents): summed over an episode once
MARKET_PREFIX = "block_"
#: per-agent info figures that are a state, not a flow: an episode keeps their last, lowest or mean value,
#: reported as ``<key>_<how>``; every other numeric figure of an agent's info is summed over the episode
LEVELS = {
    "value_usd": "last",
    "equity_usd": "last",
    "wallet_usd": "last",
    "in_pair_usd": "last",
    "health_factor": "min",
    "position_in_block": "mean",
    "share": "mean",
}
_REDUCE: dict[str, Callable[[list[float]], Any]] = {"last": lambda x: x[-1], "min": np.min, "mean": np.mean}


@dataclass
class MarketEpisodes:
    """One policy's episodes in the market; every figure is an (episodes,) array."""

    rewards: dict[str, np.ndarray]  # {agent: its reward summed over the episode}
    figures: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # {agent: {info figure: per episode}}
    market: dict[str, np.ndarray] = field(default_factory=dict)  # {block_* account: summed over the episode}


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
) -> MarketEpisodes:
    """Every agent's reward and info figures, and the market's block accounts, per episode. ``chain``
    (evm/anvil): ``fork_block`` and, in attach mode, ``addresses``."""
    played: list[tuple[dict[str, float], dict[str, dict[str, float]], dict[str, float]]] = []
    env = parallel_env(backend=backend, fork_url=fork_url, **(chain or {}), **env_kwargs)  # one chain, all episodes
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        rewards = {a: 0.0 for a in env.possible_agents}
        steps: dict[str, dict[str, list[float]]] = {a: {} for a in env.possible_agents}
        market: dict[str, float] = {}
        while env.agents:
            actions = {
                a: (policy if agent_role(a)[0] == train_role else others[a]).predict(obs[a], deterministic=True)[0]
                for a in env.agents
            }
            obs, step_rewards, _, _, infos = env.step(actions)
            for a, r in step_rewards.items():
                rewards[a] += r
            for a, info in infos.items():
                for key, value in _numbers(info).items():
                    if not key.startswith(MARKET_PREFIX):
                        steps[a].setdefault(key, []).append(value)
            for key, value in _numbers(next(iter(infos.values()), {})).items():  # the block's: once, not per agent
                if key.startswith(MARKET_PREFIX):
                    market[key] = market.get(key, 0.0) + value
            if progress is not None:
                progress.update(1)
        figures = {a: {_figure_name(k): _episode_figure(k, v) for k, v in s.items()} for a, s in steps.items()}
        played.append((rewards, figures, market))
    env.close()
    first_rewards, first_figures, first_market = played[0]
    return MarketEpisodes(
        rewards={a: np.array([p[0][a] for p in played]) for a in first_rewards},
        figures={a: {k: np.array([p[1][a][k] for p in played]) for k in f} for a, f in first_figures.items()},
        market={k: np.array([p[2][k] for p in played]) for k in first_market},
    )


def _numbers(info: Mapping[str, Any]) -> dict[str, float]:
    """The numeric scalars of an info dict (flags as 0/1); arrays and other objects are left out."""
    return {k: float(v) for k, v in info.items() if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "biuf"}


def _figure_name(key: str) -> str:
    return f"{key}_{LEVELS[key]}" if key in LEVELS else key


def _episode_figure(key: str, values: list[float]) -> float:
    return float(_REDUCE[LEVELS[key]](values)) if key in LEVELS else float(np.sum(values))


def roles_of(agents: list[str]) -> dict[str, list[str]]:
    """{role: its agents}, both in the order given."""
    roles: dict[str, list[str]] = {}
    for a in agents:
        roles.setdefault(agent_role(a)[0], []).append(a)
    return roles


def metrics(result: MarketEpisodes, train_role: str) -> dict[str, Any]:
    """One policy's report: the learning role's mean PnL per agent and episode (``pnl_usd``) and what each
    other agent made (``pnl_usd_of_<agent>``); ``roles``, each role's PnL summed over its agents per
    episode; ``agents``, each agent's PnL and info figures; ``market``, the block accounts per episode."""
    roles = roles_of(list(result.rewards))
    learners = np.stack([result.rewards[a] for a in roles[train_role]])  # (agents, episodes)
    per_agent_episode = learners.mean(axis=0)
    out: dict[str, Any] = {
        "pnl_usd": float(per_agent_episode.mean()),
        "pnl_usd_std": float(per_agent_episode.std()),
        "role_agents": int(learners.shape[0]),
        "episodes": int(learners.shape[1]),
    }
    out |= {f"pnl_usd_of_{a}": float(r.mean()) for a, r in result.rewards.items() if agent_role(a)[0] != train_role}
    out["roles"] = {}
    for role, agents in roles.items():
        summed = np.sum([result.rewards[a] for a in agents], axis=0)
        out["roles"][role] = {
            "pnl_usd": float(summed.mean()),
            "pnl_usd_std": float(summed.std()),
            "agents": agents,
            "pnl_usd_per_agent": float(summed.mean() / len(agents)),
        }
    out["agents"] = {
        a: {"pnl_usd": float(r.mean()), "pnl_usd_std": float(r.std())}
        | {k: float(v.mean()) for k, v in result.figures.get(a, {}).items()}
        for a, r in result.rewards.items()
    }
    out["market"] = {k: float(v.mean()) for k, v in result.market.items()}
    return out


def write_report(
    out_dir: Path,
    train_role: str,
    results: Mapping[str, MarketEpisodes | dict[str, np.ndarray]],
    settings: dict,
    plots: bool = True,
) -> Path:
    """report.json (metrics per policy), episodes_<policy>.csv (each agent's episode PnL) and, with
    ``plots``, roles.png, agents.png and accounts.png (when the episodes carry block accounts). A result
    given as a bare {agent: episode rewards} dict reports the rewards alone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    played = {name: r if isinstance(r, MarketEpisodes) else MarketEpisodes(r) for name, r in results.items()}
    report: dict[str, Any] = {
        "settings": settings,
        "policies": {name: metrics(r, train_role) for name, r in played.items()},
    }
    for name, result in played.items():
        agents = list(result.rewards)
        np.savetxt(
            out_dir / f"episodes_{_safe(name)}.csv",
            np.column_stack([result.rewards[a] for a in agents]),
            delimiter=",",
            header=",".join(agents),
            comments="",
            fmt="%.10g",
        )
    if plots:
        report["plots"] = _plots(out_dir, train_role, played)
    path = out_dir / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _plots(out_dir: Path, train_role: str, played: dict[str, MarketEpisodes]) -> list[str]:
    """Grouped bars, one bar per policy, with the std over episodes as error bars."""
    roles = {
        name: {
            role: np.sum([r.rewards[a] for a in agents], axis=0) for role, agents in roles_of(list(r.rewards)).items()
        }
        for name, r in played.items()
    }
    written = [
        _bars(
            out_dir / "roles.png", roles, f"Each role's PnL per episode, summed over its agents ({train_role} learns)"
        ),
        _bars(out_dir / "agents.png", {name: r.rewards for name, r in played.items()}, "Each agent's PnL per episode"),
    ]
    accounts = {name: {k.removeprefix(MARKET_PREFIX): v for k, v in r.market.items()} for name, r in played.items()}
    if any(accounts.values()):
        written.append(_bars(out_dir / "accounts.png", accounts, "The market's block accounts, summed per episode"))
    return written


def _bars(path: Path, series: dict[str, dict[str, np.ndarray]], title: str) -> str:
    """Horizontal grouped bars: a group per label (every label any policy has, in order of appearance), a
    bar per policy at its mean over episodes; a label a policy lacks is left empty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(label for values in series.values() for label in values))
    rows = np.arange(len(labels))
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.15 * len(labels) * len(series)))
    for j, (name, values) in enumerate(series.items()):
        means = [values[label].mean() if label in values else np.nan for label in labels]
        stds = [values[label].std() if label in values else np.nan for label in labels]
        ax.barh(rows + (j - (len(series) - 1) / 2) * height, means, height, xerr=stds, capsize=2, label=name)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()  # the first label on top
    ax.set(xlabel="USD (mean over episodes; bars: std)", title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
