"""Run policies of the trading roles (CEX-DEX arbitrageur, Aave borrower, liquidator, V2 LP) through
episodes on any backend and score them: PnL net of gas, its risk, and the liquidations suffered or
performed. The V3 LP has its own scoring (``agents.evaluation``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agents.config import env_classes
from agents.evaluation import Trajectories, _safe, write_trajectories
from envs import spec_of
from envs.drivers.base import SECONDS_PER_YEAR
from envs.roles.borrower import HEALTH_FACTOR_CAP, Borrower

#: per-step series recorded for every episode (a series an env does not report stays 0)
SERIES = (
    "reference_price",
    "pool_price",
    "reward",
    "profit_usd",
    "gas_usd",
    "equity_usd",
    "health_factor",
    "liquidated",
    "traded",
)


def run_episodes(
    policy,
    env_id: str,
    env_kwargs: dict,
    backend: str,
    episodes: int,
    seed: int,
    fork_url: str | None = None,
    progress=None,
    chain: dict | None = None,
) -> Trajectories:
    """Batched in one vector env on numpy/torch, one episode after another on evm/anvil; episode ``i``
    of every policy sees the same price path. ``chain`` (evm/anvil): ``fork_block`` and, in attach
    mode, ``addresses``."""
    single, vector = env_classes(env_id)
    if backend in ("numpy", "torch"):
        env = vector(num_envs=episodes, backend=backend, **env_kwargs)
        rows = _run(env.core, env.reset(seed=seed)[0], policy, env_kwargs["horizon"], progress)
        env.close()
    else:  # one chain for every episode, as agents.evaluation does
        env = single(backend=backend, fork_url=fork_url, **(chain or {}), **env_kwargs)
        per = [
            _run(env.core, env.reset(seed=seed + i)[0][None], policy, env_kwargs["horizon"], progress)
            for i in range(episodes)
        ]
        provenance = getattr(env.core.market, "provenance", lambda: None)()  # the pool, chain id, fork block
        env.close()
        rows = {k: np.concatenate([p[k] for p in per], axis=0) for k in SERIES}
        return Trajectories(rows, (env_kwargs.get("driver_kwargs") or {}).get("dt", 3600.0), provenance)
    return Trajectories(rows, (env_kwargs.get("driver_kwargs") or {}).get("dt", 3600.0))


def _run(core, obs, policy, horizon, progress) -> dict[str, np.ndarray]:
    market, n = core.market, core.n
    rows: dict[str, list[np.ndarray]] = {k: [] for k in SERIES}

    def record(reward, info):
        zero = np.zeros(n)
        values = dict(
            reference_price=market.reference_price(),
            pool_price=market.pool_price(),
            reward=reward,
            profit_usd=info.get("profit_usd", info.get("pnl_usd", zero) + info.get("gas_usd", zero)),
            gas_usd=info.get("gas_usd", zero),
            equity_usd=info.get("equity_usd", info.get("value_usd", zero)),
            health_factor=info.get("health_factor", zero),
            liquidated=info.get("liquidated", zero),
            traded=info.get("traded", zero),
        )
        for k, v in values.items():
            rows[k].append(np.asarray(v, dtype=float))

    start = {"equity_usd": core.role.value} if hasattr(core.role, "value") else {}  # a role with a capital account
    if isinstance(core.role, Borrower):  # the borrower's account as the role read it at reset
        start["health_factor"] = np.minimum(core.role.position.health_factor, HEALTH_FACTOR_CAP)
    record(np.zeros(n), start)
    for _ in range(horizon):
        actions, _ = policy.predict(obs, deterministic=True)
        obs, reward, _, _, info = core.step(actions)
        record(reward, info)
        if progress is not None:
            progress.update(n)
    return {k: np.stack(v, axis=1) for k, v in rows.items()}


def metrics(t: Trajectories, env_id: str) -> dict[str, float]:
    """Episode metrics averaged over episodes. PnL risk is measured on the per-step PnL stream (USD);
    the borrower's on its equity's returns."""
    spec = spec_of(env_id)
    per_year = SECONDS_PER_YEAR / t.dt
    pnl = t["reward"][:, 1:]
    cumulative = np.cumsum(pnl, axis=1)
    if spec.capital_account:  # risk on the account's returns
        equity = t["equity_usd"]
        steps = np.diff(equity, axis=1) / np.maximum(equity[:, :-1], 1e-9)
        drawdown = np.max(1 - equity / np.maximum.accumulate(equity, axis=1), axis=1)
        extra = dict(total_return=equity[:, -1] / equity[:, 0] - 1)
        if spec.role == "borrower":
            extra |= dict(
                liquidations_suffered=t["liquidated"][:, 1:].sum(1), min_health_factor=t["health_factor"].min(1)
            )
    else:
        steps = pnl
        drawdown = np.max(np.maximum.accumulate(np.maximum(cumulative, 0), axis=1) - cumulative, axis=1)  # USD
        extra = (
            {"liquidations_performed": t["liquidated"][:, 1:].sum(axis=1)}
            if spec.role == "liquidator"
            else {"trades": t["traded"][:, 1:].sum(axis=1)}
        )
    mean, std = steps.mean(axis=1), steps.std(axis=1)
    downside = np.sqrt(np.mean(np.minimum(steps, 0.0) ** 2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.where(std > 0, mean / std * np.sqrt(per_year), 0.0)
        sortino = np.where(downside > 0, mean / downside * np.sqrt(per_year), 0.0)
    out = (
        dict(
            pnl_usd=cumulative[:, -1],
            profit_before_gas_usd=t["profit_usd"][:, 1:].sum(axis=1),
            gas_usd=t["gas_usd"][:, 1:].sum(axis=1),
            sharpe=sharpe,
            sortino=sortino,
            max_drawdown=drawdown,
        )
        | extra
    )
    return {k: float(np.mean(x)) for k, x in out.items()} | {"episodes": int(pnl.shape[0])}


def write_report(
    out_dir: Path, env_id: str, results: dict[str, Trajectories], settings: dict, plots: bool = True
) -> Path:
    """report.json (metrics per policy), trajectories_<policy>.csv and PNG plots; returns the report path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "settings": settings,
        "policies": {name: metrics(t, env_id) for name, t in results.items()},
    }
    for name, t in results.items():
        write_trajectories(out_dir / f"trajectories_{_safe(name)}.csv", t, SERIES)
    if plots:
        report["plots"] = _plots(out_dir, env_id, results)
    path = out_dir / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _plots(out_dir: Path, env_id: str, results: dict[str, Trajectories]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, t in results.items():
        hours = np.arange(t["reward"].shape[1]) * t.dt / 3600
        ax.plot(hours, np.cumsum(t["reward"], axis=1).mean(axis=0), label=name)
    ax.set(xlabel="hours", ylabel="cumulative PnL net of gas, USD (mean over episodes)", title="PnL curves")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "pnl.png", dpi=110)
    plt.close(fig)
    if spec_of(env_id).role != "borrower":  # the health factor is the borrower's
        return ["pnl.png"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for name, t in results.items():
        hours = np.arange(t["reward"].shape[1]) * t.dt / 3600
        top.plot(hours, np.minimum(t["health_factor"][0], 5), label=name)
    top.axhline(1.0, color="r", ls="--", lw=1, label="liquidation")
    top.set(ylabel="health factor (capped at 5)", title="Health factor over time (episode 0)")
    top.legend()
    first = next(iter(results.values()))
    bottom.plot(hours, first["reference_price"][0], color="k", lw=1)
    bottom.set(xlabel="hours", ylabel="ETH/USD")
    fig.tight_layout()
    fig.savefig(out_dir / "health_factor.png", dpi=110)
    plt.close(fig)
    return ["pnl.png", "health_factor.png"]
