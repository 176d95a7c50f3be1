"""``python -m envs.contracts build-localnet --out DIR``, ``build-replica --out DIR``, ``serve --state DIR`` and
``measure-gas [--out FILE]``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from envs.contracts.localnet import build_localnet, read_addresses, serve_localnet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envs.contracts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-localnet", help="build the local market on anvil and save its state")
    build.add_argument("--out", required=True, help="folder for state.json and addresses.json")
    replica = sub.add_parser(
        "build-replica",
        help="build the contracts of address_books/ethereum.json at their "
        "real addresses on anvil with chain id 1, and save its state",
    )
    replica.add_argument("--out", required=True, help="folder for state.json and addresses.json")
    serve = sub.add_parser("serve", help="serve a saved local mainnet (or replica) with anvil until interrupted")
    serve.add_argument("--state", required=True, help="folder written by build-localnet or build-replica")
    serve.add_argument("--port", type=int, default=8545, help="port to listen on (default 8545)")
    gas = sub.add_parser("measure-gas", help="measure each action's gas on the real contracts (on anvil)")
    gas.add_argument("--out", default=None, help="write the table here (default: print it)")
    args = parser.parse_args(argv)

    if args.command == "measure-gas":
        from envs.contracts.gas_meter import measure_gas

        table = (
            json.dumps(
                {
                    "source": "transaction receipts on anvil (SHANGHAI) running the local market from "
                    "the npm artifacts, by envs/contracts/gas_meter.py; each action's second run",
                    "gas": measure_gas(),
                },
                indent=2,
            )
            + "\n"
        )
        if args.out:
            Path(args.out).write_text(table)
        print(table, end="")
        return 0

    if args.command in ("build-localnet", "build-replica"):
        t0 = time.monotonic()
        if args.command == "build-localnet":
            addresses, what = build_localnet(args.out), "the local mainnet"
        else:
            from envs.contracts.replica import build_replica

            addresses, what = build_replica(args.out), "the replica of mainnet (chain id 1)"
        print(json.dumps(addresses, indent=2))
        print(
            f"built {what} in {time.monotonic() - t0:.1f} s: {args.out}/state.json, {args.out}/addresses.json",
            file=sys.stderr,
        )
        return 0

    addresses = read_addresses(args.state)
    node = serve_localnet(args.state, args.port)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    what = "the replica of mainnet" if addresses.get("name") == "ethereum-replica" else "the local mainnet"
    try:  # a Ctrl-C can land while the line below is still being flushed: it stops the node all the same
        print(
            f"serving {what} (chain id {addresses['chain_id']}) at {node.url}; "
            f"addresses in {args.state}/addresses.json; Ctrl-C stops",
            flush=True,
        )
        while node.alive():
            time.sleep(0.5)
        print(f"anvil exited with code {node.proc.returncode}:\n{node.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        node.stop()


if __name__ == "__main__":
    sys.exit(main())
