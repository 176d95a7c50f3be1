"""Reproduce the protocol of Xu & Brini 2025 on the ETH/USD path shipped in envs/data: rolling windows
of 7,500 h (the last 1,500 of them for validation) followed by 1,500 h of test, moved by 1,500 h.

    python experiments/xu_brini_2025.py [--timesteps 300000] [--out runs/xu_brini_2025] [--windows N] [OVERRIDE ...]

OVERRIDEs are Hydra overrides for every window's train.py, e.g. ``env.allow_close=true agent.params.gamma=0.9``
(the variant with a close action, which the paper's action set does not have).

Each window trains PPO with train.py (experiment=xu_brini_2025) and evaluates it beside the
baselines on the test window; results.md tabulates net PnL, fees, LVR and gas per window, and
checks the identity relative PnL = fees - LVR - gas for the passive benchmark.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from envs.drivers import load_price_csv

TRAIN, VALIDATION, TEST = 6_000, 1_500, 1_500  # hours: 7,500 to learn from (the last 1,500 validate), 1,500 to test
ROOT = Path(__file__).resolve().parents[1]


def windows(n_steps: int) -> list[dict[str, list[float]]]:
    """Fractions of the path for each window (offset half a step so integer indices come out exact)."""
    last = n_steps - 1
    out, start = [], 0
    while start + TRAIN + VALIDATION + TEST <= last:
        cut = [start, start + TRAIN, start + TRAIN + VALIDATION, start + TRAIN + VALIDATION + TEST]
        f = [(c + 0.5) / last for c in cut]
        out.append({"train": [f[0], f[1]], "validation": [f[1], f[2]], "test": [f[2], f[3]], "hours": cut})
        start += TEST
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--out", default="runs/xu_brini_2025")
    parser.add_argument("--windows", type=int, default=None, help="only the first N windows")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed to every window's train.py")
    args = parser.parse_args()
    path = load_price_csv()
    rows = []
    for k, w in enumerate(windows(len(path.prices))[: args.windows]):
        run_dir = Path(args.out) / f"window_{k}"
        cmd = [
            sys.executable,
            "train.py",
            "experiment=xu_brini_2025",
            f"train.total_timesteps={args.timesteps}",
            f"train.window={w['train']}",
            f"train.eval_window={w['validation']}",
            f"eval.window={w['test']}",
            "train.progress_bar=false",
            f"seed={k}",
            f"hydra.run.dir={run_dir}",
            *args.overrides,
        ]
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
        report = json.loads((run_dir / "eval" / "report.json").read_text())["policies"]
        ppo = next(m for name, m in report.items() if name.endswith("/model"))
        rows.append((k, w["hours"], path.timestamps[w["hours"][2]], ppo, report["periodic_lp"], report["tau_reset_lp"]))
        print(
            f"window {k}: PPO {ppo['pnl_usd']:.0f}, passive {report['periodic_lp']['pnl_usd']:.0f}, "
            f"tau-reset {report['tau_reset_lp']['pnl_usd']:.0f}",
            flush=True,
        )
    write_results(Path(args.out), rows)


def write_results(out: Path, rows) -> None:
    from datetime import datetime, timezone

    lines = [
        "| window | test from | PPO net PnL $ | passive net PnL $ | tau-reset net PnL $ | PPO fees / LVR / gas $ "
        "| passive fees / LVR / gas $ | passive relative PnL $ (= fees - LVR - gas) |",
        "|" + "---|" * 8,
    ]
    wins_passive = wins_tau = net_passive = net_tau = 0
    net = "fees_minus_lvr_minus_gas_usd"
    for k, _hours, t0, ppo, passive, tau in rows:
        wins_passive += ppo["pnl_usd"] > passive["pnl_usd"]
        wins_tau += ppo["pnl_usd"] > tau["pnl_usd"]
        net_passive += ppo[net] > passive[net]
        net_tau += ppo[net] > tau[net]
        date = datetime.fromtimestamp(t0, timezone.utc).strftime("%Y-%m-%d")
        lines.append(
            f"| {k} | {date} | {ppo['pnl_usd']:,.0f} | {passive['pnl_usd']:,.0f} | {tau['pnl_usd']:,.0f} "
            f"| {ppo['fees_usd']:,.0f} / {ppo['lvr_usd']:,.0f} / {ppo['gas_usd']:,.0f} "
            f"| {passive['fees_usd']:,.0f} / {passive['lvr_usd']:,.0f} / {passive['gas_usd']:,.0f} "
            f"| {passive['relative_pnl_usd']:,.0f} (= {passive['fees_minus_lvr_minus_gas_usd']:,.0f}) |"
        )
    lines.append(
        f"\nOn net PnL PPO beat the passive benchmark in {wins_passive} of {len(rows)} windows and tau-reset "
        f"in {wins_tau} of {len(rows)}; on fees - LVR - gas (the paper's objective) in {net_passive} and "
        f"{net_tau} of {len(rows)}."
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(out / "results.md")


if __name__ == "__main__":
    main()
