"""Replay of real pool events through the simulated pool; prints one JSON object per line.

    python benchmarks/replay.py [--file EVENTS] [--batches 1 1000] [--backends kernel numpy] [--limit N]

One world, then N identical worlds (a batch of strategies backtested on the same real flow), replay
the recorded swaps, mints and burns (``envs.flows.replay.PoolReplay``); figures are events replayed
per second per world and in all. Backends: ``kernel`` (the compiled swap loop PoolReplay uses for
numpy worlds) and ``numpy`` (the batched array code); both give the same replay, bit for bit. The
one-time set-up (reading the file, the tick table, loading the compiled kernel) is not timed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from report import emit

from envs.data.readers import load_events
from envs.flows.replay import PoolReplay, reconstruct

DEFAULT = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "uniswap_v3"
    / "usdc_weth_3000_swaps_2021-08-10_2021-09-05.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", default=str(DEFAULT), help="an event file or export (default: the shared 26 days)")
    parser.add_argument("--fee-pips", type=int, default=3000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--backends", nargs="+", default=["kernel", "numpy"], choices=["kernel", "numpy"])
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N events")
    args = parser.parse_args()
    records, _ = load_events(args.file)
    records = records[: args.limit] if args.limit else records
    start, window = reconstruct(records, args.fee_pips)
    PoolReplay(window[:20], start, np).run()  # builds the tick table and loads the compiled kernel
    for batch in args.batches:
        for backend in args.backends:
            replay = PoolReplay(window, start, np, n=batch, compiled=backend == "kernel")
            began = time.perf_counter()
            replay.run()
            seconds = time.perf_counter() - began
            emit(
                "replay",
                backend,
                batch,
                len(window) * batch / seconds,
                "world-events/s",
                events=len(window),
                seconds=round(seconds, 3),
                file=Path(args.file).name,
            )


if __name__ == "__main__":
    main()
