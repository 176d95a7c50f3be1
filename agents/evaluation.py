"""Run policies through episodes on any backend and score them the way LP papers do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.drivers.base import SECONDS_PER_YEAR
from envs.roles.liquidity_provider import MarketView
from envs.uniswap_v3_lp import UniswapV3LPEnv, UniswapV3LPVectorEnv
from envs.units import usd_per_eth_at_tick

#: per-step series recorded for every episode
SERIES = (
    "reference_price",
    "pool_price",
    "value_usd",
    "hodl_usd",
    "weth_held",
    "reward",
    "fees_usd",
    "lvr_usd",
    "gas_usd",
    "in_range",
    "has_position",
    "rebalanced",
    "range_low_usd",
    "range_high_usd",
)


@dataclass
class Trajectories:
    """(episodes, steps + 1) arrays, one per series."""

    series: dict[str, np.ndarray]
    dt: float
    #: where a chain backend ran (pool address, chain id, fork block, attach or deploy); None on the simulator
    provenance: dict | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.series[name]


def run_episodes(
    policy,
    env_kwargs: dict,
    backend: str,
    episodes: int,
    seed: int,
    device: str | None = None,
    fork_url: str | None = None,
    progress=None,
    chain: dict | None = None,
) -> Trajectories:
    """``episodes`` episodes: batched in one vector env on numpy/torch, one after another on evm/anvil.
    Episode ``i`` of every policy sees the same price path (same seed). ``chain`` (evm/anvil): more
    placement arguments, ``fork_block`` and ``addresses`` (attach mode)."""
    provenance = None
    if backend in ("numpy", "torch"):
        env = UniswapV3LPVectorEnv(num_envs=episodes, backend=backend, device=device, **env_kwargs)
        rows = _run(env, policy, seed, env_kwargs["horizon"], progress)
        provenance = getattr(env.core.market, "provenance", lambda: None)()  # backend.init_from: the pool read
        env.close()
    else:  # one chain for every episode: an episode reverts to the built market instead of building it again
        single = UniswapV3LPEnv(
            backend=backend,
            fork_url=fork_url,
            **(chain or {}),
            **{k: v for k, v in env_kwargs.items() if k not in ("init_from", "init_addresses")},
        )
        per = [_run(_Batch1(single), policy, seed + i, env_kwargs["horizon"], progress) for i in range(episodes)]
        provenance = single.core.market.provenance()
        single.close()
        rows = {k: np.concatenate([p[k] for p in per], axis=0) for k in SERIES}
    return Trajectories(rows, env_kwargs["driver_kwargs"].get("dt", 3600.0), provenance)


class _Batch1:
    """A single env seen as a batch of one, so one loop serves both."""

    def __init__(self, env: UniswapV3LPEnv):
        self.env, self.core = env, env.core

    def reset(self, seed):
        obs, _ = self.env.reset(seed=seed)
        return obs[None], {}

    def step(self, actions):
        return self.core.step(np.asarray(actions).reshape(1, *np.shape(actions)[1:]))


def _run(env, policy, seed, horizon, progress) -> dict[str, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    market = env.core.market
    wallet = market.agent_wallet()
    hold = (wallet[0], wallet[1])
    rows: dict[str, list[np.ndarray]] = {k: [] for k in SERIES}

    def record(reward, info, rebalanced):
        view = MarketView.read(market)  # one read of the market per step
        ref, lower, upper, liquidity, tick = view.reference, view.lower, view.upper, view.liquidity, view.tick
        values = dict(
            reference_price=ref,
            pool_price=view.pool,
            value_usd=view.value_usd,
            hodl_usd=hold[0] + hold[1] * ref,
            weth_held=view.wallet[1] + view.position[1] + view.fees[1],
            reward=reward,
            fees_usd=info.get("fees_usd", 0 * ref),
            lvr_usd=info.get("lvr_usd", 0 * ref),
            gas_usd=info.get("gas_usd", 0 * ref),
            in_range=((liquidity > 0) & (tick >= lower) & (tick < upper)).astype(float),
            has_position=(liquidity > 0).astype(float),
            rebalanced=rebalanced.astype(float),
            range_low_usd=np.where(liquidity > 0, usd_per_eth_at_tick(upper), np.nan),
            range_high_usd=np.where(liquidity > 0, usd_per_eth_at_tick(lower), np.nan),
        )
        for k, v in values.items():
            rows[k].append(np.asarray(v, dtype=float))

    zeros = np.zeros(market.n)
    record(zeros, {}, zeros)
    for _ in range(horizon):
        actions, _ = policy.predict(obs, deterministic=True)
        rebalanced, _ = env.core.role.decode(actions, market.n)
        obs, reward, terminated, truncated, info = env.core.step(actions)
        record(reward, info, rebalanced)
        if progress is not None:
            progress.update(market.n)
    return {k: np.stack(v, axis=1) for k, v in rows.items()}


def metrics(t: Trajectories) -> dict[str, float]:
    """Episode metrics, averaged over episodes (USD unless a ratio)."""
    v, hodl = t["value_usd"], t["hodl_usd"]
    returns = np.diff(v, axis=1) / v[:, :-1]
    per_year = SECONDS_PER_YEAR / t.dt
    downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=1))
    peak = np.maximum.accumulate(v, axis=1)
    fees, gas, lvr = (t[k][:, 1:].sum(axis=1) for k in ("fees_usd", "gas_usd", "lvr_usd"))
    total_return = v[:, -1] / v[:, 0] - 1
    hodl_return = hodl[:, -1] / hodl[:, 0] - 1
    # value = hodl + impermanent loss + fees - gas: IL is what is left of the PnL vs holding
    il = (v[:, -1] - hodl[:, -1]) - fees + gas
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.where(returns.std(axis=1) > 0, returns.mean(axis=1) / returns.std(axis=1) * np.sqrt(per_year), 0.0)
        sortino = np.where(downside > 0, returns.mean(axis=1) / downside * np.sqrt(per_year), 0.0)
        in_range = np.where(
            t["has_position"][:, 1:].sum(axis=1) > 0,
            t["in_range"][:, 1:].sum(axis=1) / np.maximum(t["has_position"][:, 1:].sum(axis=1), 1),
            0.0,
        )
    # Against the rebalancing portfolio (Milionis et al. 2022: hold the LP's ETH, trade it at the
    # reference price), the LP's relative PnL is fees - LVR - gas, up to the pool's lag behind the
    # reference price and the cost of its own rebalancing swaps.
    hedge = np.sum(t["weth_held"][:, :-1] * np.diff(t["reference_price"], axis=1), axis=1)
    relative = (v[:, -1] - v[:, 0]) - hedge
    out = dict(
        total_return=total_return,
        excess_return_vs_hodl=total_return - hodl_return,
        relative_pnl_usd=relative,
        fees_minus_lvr_minus_gas_usd=fees - lvr - gas,
        pnl_usd=v[:, -1] - v[:, 0],
        fees_usd=fees,
        lvr_usd=lvr,
        impermanent_loss_usd=il,
        gas_usd=gas,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=np.max((peak - v) / peak, axis=1),
        time_in_range=in_range,
        rebalances=t["rebalanced"][:, 1:].sum(axis=1),
    )
    return {k: float(np.mean(x)) for k, x in out.items()} | {"episodes": int(v.shape[0])}


def write_trajectories(path: Path, t: Trajectories, series) -> None:
    """One row per episode and step, one column per series: the per-step CSV every report writes."""
    episodes, steps = t[series[0]].shape
    data = np.column_stack(
        [np.repeat(np.arange(episodes), steps), np.tile(np.arange(steps), episodes)]
        + [t[k].reshape(-1) for k in series]
    )
    np.savetxt(path, data, delimiter=",", header=",".join(["episode", "step", *series]), comments="", fmt="%.10g")


def write_report(out_dir: Path, results: dict[str, Trajectories], settings: dict, plots: bool = True) -> Path:
    """report.json (metrics per policy), trajectories_<policy>.csv, and PNG plots; returns the report path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"settings": settings, "policies": {name: metrics(t) for name, t in results.items()}}
    for name, t in results.items():
        write_trajectories(out_dir / f"trajectories_{_safe(name)}.csv", t, SERIES)
    if plots:
        report["plots"] = _plots(out_dir, results)
    path = out_dir / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _plots(out_dir: Path, results: dict[str, Trajectories]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    hours: np.ndarray | None = None
    for name, t in results.items():
        hours = np.arange(t["value_usd"].shape[1]) * t.dt / 3600
        ax.plot(hours, t["value_usd"].mean(axis=0), label=name)
    if hours is None:
        raise ValueError("no policy's trajectories to plot")
    first = next(iter(results.values()))
    ax.plot(hours, first["hodl_usd"].mean(axis=0), "k--", label="hold (no LP)")
    ax.set(xlabel="hours", ylabel="portfolio value, USD (mean over episodes)", title="Equity curves")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "equity.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(results), 1, figsize=(9, 2.4 * len(results)), sharex=True, squeeze=False)
    for ax, (name, t) in zip(axes[:, 0], results.items()):
        price = t["reference_price"][0]
        lo, hi = 0.8 * price.min(), 1.2 * price.max()  # a full range would squash the axis: clip to the price's area
        ax.plot(hours, price, color="k", lw=1, label="ETH/USD")
        ax.fill_between(
            hours,
            np.clip(t["range_low_usd"][0], lo, hi),
            np.clip(t["range_high_usd"][0], lo, hi),
            alpha=0.3,
            label="LP range",
        )
        ax.set(ylabel="USD", ylim=(lo, hi), title=f"{name}: price and range (episode 0)")
    axes[-1, 0].set_xlabel("hours")
    fig.tight_layout()
    fig.savefig(out_dir / "price_range.png", dpi=110)
    plt.close(fig)
    return ["equity.png", "price_range.png"]


#: the table's columns, those of them a report has (the LP's, then the trading roles')
TABLE_COLUMNS = (
    "total_return",
    "excess_return_vs_hodl",
    "pnl_usd",
    "fees_usd",
    "lvr_usd",
    "impermanent_loss_usd",
    "gas_usd",
    "sharpe",
    "max_drawdown",
    "time_in_range",
    "rebalances",
    "trades",
    "liquidations_performed",
    "liquidations_suffered",
    "min_health_factor",
)


def format_table(report: dict) -> str:
    first: dict[str, float] = next(iter(report["policies"].values()), {})
    cols = [c for c in TABLE_COLUMNS if c in first] + [c for c in first if c.startswith("pnl_usd_of_")]  # others' PnL
    head = f"{'policy':28s}" + "".join(f"{c.removeprefix('pnl_usd_of_')[:14]:>15s}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, m in report["policies"].items():
        lines.append(f"{name[:28]:28s}" + "".join(f"{m[c]:15.4g}" for c in cols))
    return "\n".join(lines)
