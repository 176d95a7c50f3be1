"""A league for single-role training in ``defi_market_v0`` (``env.league``): the agents outside the learning
role play earlier snapshots of their role, drawn afresh at every episode reset, so the learner meets a
population of opponents instead of one fixed policy.

A snapshot is a ``model.zip`` of the market (its role read from ``model.meta.json``). ``env.league.pool``
lists checkpoints, or run directories holding ``model.zip`` (a single-role run) or
``policies/<role>/model.zip`` (a co-training run). The sampling rules:

- ``latest``: the newest snapshot of the role, by the modification time of its ``model.zip`` (the
  checkpoint metadata records no time); ties go to the path that sorts last.
- ``uniform``: any snapshot of the role, uniformly, from the league's generator, which seeding the
  training VecEnv seeds (train.py: the run's ``seed``), so a run reproduces its draws.
- ``best``: the snapshot with the highest score, its ``pnl_usd`` in its own run's evaluation report
  (``eval/report.json``, or ``eval/<role>/report.json`` for co-training): the role's mean PnL per agent
  and episode on the test window. Scores compare when the runs were evaluated alike (``eval.*``);
  snapshots without a report are passed over, and a role none of whose snapshots has one is an error.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.policy import load_policy, policy_name, read_checkpoint
from envs.defi_market_v0 import SPEC, ParallelVectorEnv, agent_role

SAMPLING = ("latest", "uniform", "best")
MODEL_FILE = "model.zip"


@dataclass(frozen=True)
class Snapshot:
    """One checkpoint of the pool: where it is, the role it plays, and what ``latest`` and ``best`` rank."""

    path: Path
    role: str
    mtime: float  # model.zip's modification time
    score: float | None  # pnl_usd in its run's evaluation report; None: not evaluated


def checkpoints_in(entry: str, index: int) -> list[Path]:
    """The model.zip files one ``env.league.pool`` entry names: itself, or a run directory's."""
    path = Path(entry)
    if path.is_file():
        return [path]
    if path.is_dir():
        own = [path / MODEL_FILE] if (path / MODEL_FILE).is_file() else []
        return own + sorted(path.glob(f"policies/*/{MODEL_FILE}"))
    raise FileNotFoundError(
        f"env.league.pool[{index}]={entry!r}: no such file or directory; list model.zip checkpoints or run "
        f"directories (holding model.zip or policies/<role>/model.zip)"
    )


def recorded_score(model: Path, role: str) -> float | None:
    """The checkpoint's ``pnl_usd`` in the evaluation report its run wrote for ``role``, if any."""
    runs = [model.parent / "eval" / "report.json"]
    if model.parent.parent.name == "policies":  # co-training: <run>/policies/<role>/model.zip
        runs.append(model.parent.parent.parent / "eval" / role / "report.json")
    for report_file in runs:
        if not report_file.is_file():
            continue
        report = json.loads(report_file.read_text())
        evaluated_role = report.get("settings", {}).get("config", {}).get("env", {}).get("train_role")
        scored = report.get("policies", {}).get(policy_name(str(model)), {})
        if evaluated_role == role and "pnl_usd" in scored:
            return float(scored["pnl_usd"])
    return None


def read_snapshot(model: Path) -> Snapshot:
    """A checkpoint as a snapshot; refused when it was trained on another env or its role is unknown."""
    info = read_checkpoint(model)
    if info.get("env_id") not in (None, SPEC.id):
        raise ValueError(
            f"env.league.pool: {model} was trained on {info['env_id']!r}, not {SPEC.id}: drop it from the pool"
        )
    role = info.get("role") or (info.get("env_config") or {}).get("train_role")
    if role is None:
        raise ValueError(
            f"env.league.pool: {model} says not which role it plays (no model.meta.json beside it): "
            f"restore the metadata from its run, or drop it from the pool"
        )
    return Snapshot(model, role, model.stat().st_mtime, recorded_score(model, role))


def find_snapshots(pool: list[str], roles: set[str]) -> dict[str, list[Snapshot]]:
    """The pool's snapshots of ``roles`` (the market's), by role; each entry must hold at least one."""
    found: dict[str, list[Snapshot]] = {}
    for index, entry in enumerate(pool):
        snapshots = [s for s in map(read_snapshot, checkpoints_in(entry, index)) if s.role in roles]
        if not snapshots:
            raise ValueError(
                f"env.league.pool[{index}]={entry!r} holds no policy for a role of the market {sorted(roles)}: "
                f"point it at a model.zip of one of them, or a run directory holding model.zip or "
                f"policies/<role>/model.zip"
            )
        for snapshot in snapshots:
            if snapshot not in found.setdefault(snapshot.role, []):
                found[snapshot.role].append(snapshot)
    return found


def ranked(snapshots: list[Snapshot], sampling: str, role: str) -> list[Snapshot]:
    """The snapshots a rule draws from: the newest (latest), the top-scored (best), or all (uniform)."""
    if sampling == "latest":
        return [max(snapshots, key=lambda s: (s.mtime, str(s.path)))]
    if sampling == "best":
        scored = [s for s in snapshots if s.score is not None]
        if not scored:
            raise ValueError(
                f"env.league.sampling=best: no {role} snapshot of the pool has a score (its run's "
                f"eval/report.json): evaluate those runs (train.evaluate_after=true), or use "
                f"env.league.sampling=latest or uniform"
            )
        return [max(scored, key=lambda s: (s.score, str(s.path)))]
    return snapshots


class League:
    """Per agent, the snapshots it may play and their loaded policies; ``draw`` picks one of each agent's
    at random (one snapshot per agent and reset, shared by its N markets)."""

    def __init__(self, candidates: dict[str, list[tuple[Snapshot, Any]]], seed: int | None = None):
        self.candidates = candidates
        self.rng = np.random.default_rng(seed)
        #: the snapshot each agent plays now, and how many episodes each agent played each snapshot
        self.drawn: dict[str, Path] = {}
        self.counts: dict[str, Counter[str]] = {agent: Counter() for agent in candidates}

    def seed(self, seed: int | None) -> None:
        """Restart the draws from ``seed`` (the training VecEnv's seed), so a run reproduces them."""
        self.rng = np.random.default_rng(seed)

    def draw(self) -> dict[str, Any]:
        """A new episode: each league agent's policy, drawn from its candidates."""
        policies = {}
        for agent, options in self.candidates.items():
            snapshot, policy = options[int(self.rng.integers(len(options)))]
            self.drawn[agent], policies[agent] = snapshot.path, policy
            self.counts[agent][str(snapshot.path)] += 1
        return policies


def check_fits(policy: Any, snapshot: Snapshot, env: ParallelVectorEnv, agent: str) -> None:
    """A snapshot must observe and act as the agent does in this market (same role, same market setup)."""
    model = policy.model
    if model.observation_space.shape != env.observation_space(agent).shape or model.action_space != env.action_space(
        agent
    ):
        raise ValueError(
            f"env.league.pool: {snapshot.path} observes {model.observation_space.shape} and acts in "
            f"{model.action_space}, but {agent} here observes {env.observation_space(agent).shape} and acts in "
            f"{env.action_space(agent)}: it was trained on another market setup (env.*); drop it from the pool"
        )


def make_league(
    env: ParallelVectorEnv,
    train_role: str,
    pool: list[str],
    sampling: str,
    others: dict[str, str],
    device: str = "auto",
    allow_missing_normalization: bool = False,
) -> League | None:
    """The league of ``env.league`` for training ``train_role`` in ``env``; None for an empty pool. Agents
    named in ``others`` (env.others) keep their policy; so do agents of roles without snapshots."""
    if sampling not in SAMPLING:
        raise ValueError(
            f"env.league.sampling={sampling!r} must be one of {list(SAMPLING)}: latest (the newest snapshot), "
            f"uniform (any, at random) or best (the top-scored)"
        )
    if not pool:
        return None
    roles = {agent_role(a)[0] for a in env.possible_agents}
    found = find_snapshots(list(pool), roles)
    if set(found) <= {train_role}:
        raise ValueError(
            f"env.league.pool holds snapshots of {train_role} only, the role that learns: add runs of the "
            f"other roles {sorted(roles - {train_role})}, or leave env.league.pool empty"
        )
    loaded: dict[Path, Any] = {}
    candidates: dict[str, list[tuple[Snapshot, Any]]] = {}
    for agent in env.possible_agents:
        role = agent_role(agent)[0]
        if role == train_role or role not in found or agent in others:
            continue
        for snapshot in ranked(found[role], sampling, role):
            if snapshot.path not in loaded:
                loaded[snapshot.path] = load_policy(
                    str(snapshot.path), env.role_of(agent), device, allow_missing_normalization
                )
                check_fits(loaded[snapshot.path], snapshot, env, agent)
            candidates.setdefault(agent, []).append((snapshot, loaded[snapshot.path]))
    return League(candidates)
