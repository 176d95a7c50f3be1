"""Event data tools.

python -m envs.data events --rpc URL --pool ADDRESS --from-block A --to-block B --out FILE.parquet
python -m envs.data convert EXPORT.csv --out FILE.parquet        # demeter-fetch or subgraph exports
python -m envs.data check-replay FILE [--rpc URL]                  # one JSON line: how exactly it replays
python -m envs.data fit-flow SWAPS --prices PRICES.csv --out FLOW.json   # calibrated flow, held-out quality
python -m envs.data fit-lending --reserves RESERVES.csv --out LENDING.json   # Aave rate curves, utilization
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from envs.data.events import EventDataError, FetchPlan, event_metadata, fetch_events, read_events, write_events
from envs.flows.lending_fit import LendingDataError
from envs.units import USDC, WETH


def _events(args) -> None:
    plan = FetchPlan(
        args.rpc,
        args.pool,
        args.from_block,
        args.to_block,
        protocol=args.protocol,
        chunk=args.chunk,
        timestamps=not args.no_timestamps,
        progress=not args.no_progress,
    )
    out = fetch_events(plan, args.out)
    print(json.dumps({"out": str(out), "events": len(read_events(out)), **event_metadata(out)}))


def _convert(args) -> None:
    from envs.data.readers import read_export

    records, metadata = read_export(args.export, decimals=(args.decimals0, args.decimals1))
    if args.fee_pips:
        metadata["fee_pips"] = str(args.fee_pips)
    write_events(records, args.out, metadata)
    print(json.dumps({"out": args.out, "events": len(records), **metadata}))


def _fee_pips(args, metadata: dict) -> int:
    if args.fee_pips:
        return args.fee_pips
    if "fee_pips" in metadata:
        return int(metadata["fee_pips"])
    raise EventDataError(f"{args.file} does not say its pool's fee tier: pass --fee-pips (100, 500, 3000 or 10000)")


def _check_replay(args) -> None:
    from envs.data.readers import load_events
    from envs.flows.replay import check_replay, read_pool_at

    records, metadata = load_events(args.file)
    start = None
    if args.rpc:
        address = args.pool or metadata.get("address")
        if not address:
            raise EventDataError("--rpc needs the pool's address: --pool ADDRESS (the file does not name it)")
        first = min(r.block_number for r in records)
        start = read_pool_at(args.rpc, address, first - 1)
    fee = start.fee if start is not None else _fee_pips(args, metadata)
    report = check_replay(records, fee, start)
    print(json.dumps({"file": str(args.file), "exact_data": metadata.get("exact", "unknown"), **report.as_dict()}))


def _fit_flow(args) -> None:
    from envs.data.readers import load_events
    from envs.flows.fit import fit_and_validate

    records, metadata = load_events(args.swaps)
    params = fit_and_validate(
        records,
        args.prices,
        _fee_pips(args, metadata),
        args.holdout_days,
        source=f"{Path(args.swaps).name} ({metadata.get('source', '')}), reference {Path(args.prices).name}",
    )
    params.save(args.out)
    print(
        json.dumps(
            {"out": args.out, "informed_share": params.informed_share, "persistence": params.persistence, **params.fit}
        )
    )


def _fit_lending(args) -> None:
    from envs.flows.lending_fit import fit_and_validate

    calibration = fit_and_validate(args.reserves, args.network, tuple(args.symbols.split(",")), args.holdout)
    calibration.save(args.out)
    for symbol, r in calibration.fit["reserves"].items():
        curve = calibration.reserves[symbol].curve
        print(
            json.dumps(
                {
                    "reserve": symbol,
                    "base": curve.base,
                    "slope1": curve.slope1,
                    "slope2": curve.slope2,
                    "optimal": curve.optimal,
                    **r,
                }
            )
        )
    print(json.dumps({"out": args.out}))


def _check_turnover(args) -> None:
    from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE
    from envs.worlds.sim import V3WorldParams
    from envs.worlds.turnover import check_turnover

    if len(args.start) != len(args.days):
        raise EventDataError(
            f"--start names {len(args.start)} windows and --days {len(args.days)}: give one length per start"
        )

    def pairs(values: list[str], first) -> tuple:
        try:
            return tuple((first(a), float(b)) for a, b in (v.split(":") for v in values))
        except ValueError as err:
            raise EventDataError(f"{values}: each entry is WIDTH:SHARE, e.g. 2400:0.3 or full:0.5 ({err})") from err

    profile = (
        DEFAULT_LIQUIDITY_PROFILE
        if args.liquidity_profile is None
        else pairs(args.liquidity_profile, lambda w: None if w == "full" else float(w))
    )
    params = V3WorldParams(
        fee_pips=args.fee_pips,
        pool_value_usd=args.pool_value_usd,
        flow="calibrated",
        flow_file=args.flow_file,
        recentering_lps=pairs(args.recentering_lps, int),
        liquidity_profile=profile,
    )
    for start, days in zip(args.start, args.days):
        t = check_turnover(args.pool_days, args.pool, start, days, params, args.worlds, args.seed, args.prices)
        print(
            json.dumps(
                {
                    "start": start,
                    "days": days,
                    "model": t.model,
                    "model_p5": t.model_p5,
                    "model_p95": t.model_p95,
                    "real": t.real,
                    "real_min": t.real_min,
                    "real_max": t.real_max,
                    "error": t.error,
                }
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m envs.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("events", help="fetch a pool's (or Aave Pool's) logs through eth_getLogs into parquet")
    ev.add_argument("--rpc", required=True, help="node URL (an archive node for old blocks)")
    ev.add_argument("--pool", required=True, help="contract address: a V3 pool, a V2 pair or the Aave V3 Pool")
    ev.add_argument("--from-block", type=int, required=True)
    ev.add_argument("--to-block", type=int, required=True)
    ev.add_argument("--out", required=True)
    ev.add_argument(
        "--protocol", choices=["uniswap_v3", "uniswap_v2", "aave_v3"], help="default: asked of the contract"
    )
    ev.add_argument("--chunk", type=int, default=2_000, help="blocks per eth_getLogs (halved while the node refuses)")
    ev.add_argument("--no-timestamps", action="store_true", help="skip the block timestamps (one batched call per 100)")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(run=_events)
    cv = sub.add_parser("convert", help="a public export (demeter-fetch tick CSV, subgraph swaps) into an event file")
    cv.add_argument("export")
    cv.add_argument("--out", required=True)
    cv.add_argument("--fee-pips", type=int, help="the pool's fee tier, kept in the file for check-replay")
    cv.add_argument(
        "--decimals0",
        type=int,
        default=USDC.decimals,
        help=f"token0's decimals, for exports in whole tokens (USDC: {USDC.decimals})",
    )
    cv.add_argument("--decimals1", type=int, default=WETH.decimals, help=f"token1's decimals (WETH: {WETH.decimals})")
    cv.set_defaults(run=_convert)
    cr = sub.add_parser("check-replay", help="replay a V3 event file with no agent; print one JSON line of errors")
    cr.add_argument("file", help="an event file (parquet) or a public export (CSV)")
    cr.add_argument("--rpc", help="read the starting pool from this node at the block before the first event")
    cr.add_argument("--pool", help="the pool's address, when the file does not name it")
    cr.add_argument("--fee-pips", type=int, help="the pool's fee tier, when neither the file nor --rpc says it")
    cr.set_defaults(run=_check_replay)
    ff = sub.add_parser("fit-flow", help="fit the calibrated flow to a pool's swaps; print its held-out quality")
    ff.add_argument("swaps", help="an event file or export with the pool's swaps (USDC/WETH, USDC token0)")
    ff.add_argument(
        "--prices", required=True, help="reference ETH/USD CSV covering the swaps' dates (hourly is enough)"
    )
    ff.add_argument("--out", required=True, help="where the parameters go (JSON, read by flow=calibrated)")
    ff.add_argument("--fee-pips", type=int, help="the pool's fee tier, when the file does not say it")
    ff.add_argument("--holdout-days", type=int, default=6, help="the last days, kept out of the fit to validate on")
    ff.set_defaults(run=_fit_flow)
    fl = sub.add_parser(
        "fit-lending", help="fit Aave rate curves and utilization to daily reserve data; print the held-out quality"
    )
    fl.add_argument(
        "--reserves",
        required=True,
        help="daily reserves CSV (generated_at, network, symbol, "
        "current_liquidity_rate, current_variable_borrow_rate, reserve_factor)",
    )
    fl.add_argument("--out", required=True, help="where the calibration goes (JSON, read by env.lending.calibration)")
    fl.add_argument("--network", default="ethereum", help="the network's rows to fit")
    fl.add_argument("--symbols", default="USDC,WETH", help="the reserves to fit, comma-separated")
    fl.add_argument("--holdout", type=float, default=0.2, help="the last share of the days, kept out of the fit")
    fl.set_defaults(run=_fit_lending)
    ct = sub.add_parser(
        "check-turnover",
        help="daily volume / TVL of simulated worlds (calibrated flow) beside a "
        "real pool's over the same days; one JSON line per window",
    )
    ct.add_argument("pool_days", help="daily pool data CSV (date, pool, tvlUSD, volumeUSD: a subgraph's poolDayData)")
    ct.add_argument("--pool", required=True, help="the real pool's address in that file")
    ct.add_argument("--start", nargs="+", required=True, help="first day of each window (ISO date)")
    ct.add_argument("--days", nargs="+", type=int, required=True, help="each window's length in days")
    ct.add_argument("--prices", required=True, help="hourly ETH/USD CSV covering the windows (the reference path)")
    ct.add_argument("--fee-pips", type=int, default=3000)
    ct.add_argument("--pool-value-usd", type=float, default=20_000_000.0, help="the simulated pool's background value")
    ct.add_argument("--flow-file", help="calibrated flow parameters (default: the shipped fit)")
    ct.add_argument(
        "--recentering-lps",
        nargs="*",
        default=[],
        metavar="TICKS:SHARE",
        help="re-centring LPs, e.g. 2400:0.3 (env.recentering_lps)",
    )
    ct.add_argument(
        "--liquidity-profile",
        nargs="+",
        metavar="HALF_WIDTH:SHARE",
        help="the static ranges, e.g. 0.3:0.5 full:0.5 (env.liquidity_profile; default: the five ranges)",
    )
    ct.add_argument("--worlds", type=int, default=64)
    ct.add_argument("--seed", type=int, default=0)
    ct.set_defaults(run=_check_turnover)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (EventDataError, LendingDataError) as err:
        print(f"python -m envs.data {args.command}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
