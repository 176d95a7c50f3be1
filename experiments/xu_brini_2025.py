"""Reproduce the protocol of Xu & Brini 2025 on the ETH/USD path shipped in envs/data: rolling windows
of 7,500 h (the last 1,500 of them for validation) followed by 1,500 h of test, moved by 1,500 h.

    python experiments/xu_brini_2025.py [--timesteps 300000] [--out runs/xu_brini_2025] [--windows N] [OVERRIDE ...]
    python experiments/xu_brini_2025.py --replay EVENTS [--hours 216,72,72] ...   # on a pool's replayed real days

OVERRIDEs are Hydra overrides for every window's train.py, e.g. ``env.allow_close=true agent.params.gamma=0.9``
(the variant with a close action, which the paper's action set does not have).

Each window trains PPO with train.py (experiment=xu_brini_2025) and evaluates it beside the
baselines on the test window; results.md tabulates net PnL, fees, LVR and gas per window, and
checks the identity relative PnL = fees - LVR - gas for the passive benchmark. With ``--replay`` (an event
file or export, e.g. the 26 days of 0.3%-pool swaps in ../shared/data) the market is the recorded flow
(env.flow=replay) and the windows are cut from its hours, by default 216 h to train, 72 to validate and 72
to test, each episode as long as a test window (so no window may be shorter than the test's).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from envs.drivers import load_price_csv

TRAIN, VALIDATION, TEST = 6_000, 1_500, 1_500  # hours: 7,500 to learn from (the last 1,500 validate), 1,500 to test
REPLAY_HOURS = (216, 72, 72)  # --replay: 9 days to learn from, 3 to validate, 3 to test (episodes of 3 days)
ROOT = Path(__file__).resolve().parents[1]
#: the policies every window compares (the first two are the paper's benchmarks)
POLICIES = ("periodic_lp", "tau_reset_lp", "passive_lp", "recentering_lp", "hodl")


def windows(n_steps: int, hours: tuple[int, int, int] = (TRAIN, VALIDATION, TEST)) -> list[dict[str, list]]:
    """Fractions of the path for each window (offset half a step so integer indices come out exact)."""
    train, validation, test = hours
    last = n_steps - 1
    out, start = [], 0
    while start + train + validation + test <= last:
        cut = [start, start + train, start + train + validation, start + train + validation + test]
        f = [(c + 0.5) / last for c in cut]
        out.append({"train": [f[0], f[1]], "validation": [f[1], f[2]], "test": [f[2], f[3]], "hours": cut})
        start += test
    return out


def replay_hours(events: str) -> tuple[int, float]:
    """(whole hours the recorded events span + 1, the first event's time): the replay's steps and start."""
    from envs.data.readers import load_events

    times = [r.timestamp for r in load_events(events)[0] if r.timestamp is not None]
    if not times:
        raise SystemExit(f"--replay {events}: no timestamped events to replay")
    return int((max(times) - min(times)) // 3600) + 1, float(min(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--out", default="runs/xu_brini_2025")
    parser.add_argument("--windows", type=int, default=None, help="only the first N windows")
    parser.add_argument("--replay", default=None, help="an event file or export: the protocol on its replayed days")
    parser.add_argument("--fee-pips", type=int, default=3000, help="--replay: the recorded pool's fee tier")
    parser.add_argument(
        "--hours",
        default=None,
        help="train,validation,test hours of each window (default 6000,1500,1500; replay 216,72,72)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed to every window's train.py")
    args = parser.parse_args()
    hours = REPLAY_HOURS if args.replay else (TRAIN, VALIDATION, TEST)
    if args.hours:
        try:
            hours = tuple(int(h) for h in args.hours.split(","))  # type: ignore[assignment]
        except ValueError:
            raise SystemExit(f"--hours {args.hours!r} must be three whole numbers of hours, e.g. 216,72,72") from None
        if len(hours) != 3 or min(hours) < 1:
            raise SystemExit(f"--hours {args.hours!r} must be three positive numbers of hours: train,validation,test")
        if args.replay and min(hours) < hours[2]:
            raise SystemExit(
                f"--hours {args.hours!r}: a replay's episodes last a test window; no window may be shorter"
            )
    policies = f"eval.policies=[{','.join('baseline:' + p for p in POLICIES)}]"
    if args.replay:
        n_steps, first = replay_hours(args.replay)
        setting = [
            "env.flow=replay",
            f"env.flow_file={Path(args.replay).resolve()}",
            f"env.fee_pips={args.fee_pips}",
            f"env.horizon={hours[2]}",  # an episode is a test window long
        ]
        start_time = lambda hour: first + 3600 * hour  # noqa: E731
    else:
        path = load_price_csv()
        n_steps, setting = len(path.prices), []
        start_time = lambda hour: path.timestamps[hour]  # noqa: E731
    cut = windows(n_steps, hours)[: args.windows]
    if not cut:
        raise SystemExit(f"{n_steps} h of data hold no window of {sum(hours)} h: shorten --hours")
    rows = []
    for k, w in enumerate(cut):
        run_dir = Path(args.out) / f"window_{k}"
        cmd = [
            sys.executable,
            "train.py",
            "experiment=xu_brini_2025",
            *setting,
            policies,
            f"train.total_timesteps={args.timesteps}",
            f"train.window={w['train']}",
            f"train.eval_window={w['validation']}",
            f"eval.window={w['test']}",
            "train.progress_bar=false",
            f"seed={k}",
            f"hydra.run.dir={run_dir}",
            *args.overrides,
        ]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"window {k}: train.py failed:\n{done.stderr[-3000:]}")
        report = json.loads((run_dir / "eval" / "report.json").read_text())["policies"]
        ppo = next(m for name, m in report.items() if name.endswith("/model"))
        rows.append((k, w["hours"], start_time(w["hours"][2]), ppo, report))
        print(f"window {k}: " + ", ".join(f"{_name(p)} {m['pnl_usd']:.0f}" for p, m in report.items()), flush=True)
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
    for k, _hours, t0, ppo, report in rows:
        passive, tau = report["periodic_lp"], report["tau_reset_lp"]
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
    names = [_name(p) for p in rows[0][4]]
    lines += [
        "\nEvery policy, net PnL $ (fees - LVR - gas $):\n",
        "| window | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 1),
    ]
    for k, *_, report in rows:
        cells = [f"{m['pnl_usd']:,.0f} ({m[net]:,.0f})" for m in report.values()]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(out / "results.md")


def _name(policy: str) -> str:
    """A report's policy key as the tables name it: the trained model is PPO."""
    return "PPO" if policy.endswith("/model") else policy


if __name__ == "__main__":
    main()
