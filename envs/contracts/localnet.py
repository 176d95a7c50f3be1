"""The local mainnet: the market built on anvil, saved as a state file plus addresses.json, and served.

It is the offline stand-in for Ethereum mainnet: forking it with ``--fork-url`` takes the same
code path a user takes with a mainnet RPC URL.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from envs.contracts.market import Market, MarketSpec, attach_market, build_market
from envs.evm.anvil import AnvilChain, AnvilProcess

STATE_FILE = "state.json"
ADDRESSES_FILE = "addresses.json"


def build_localnet(out: str | Path, spec: MarketSpec | None = None) -> dict:
    """Build the market on a fresh anvil and write ``out/state.json`` and ``out/addresses.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = out / STATE_FILE
    with AnvilChain(dump_state=state, log_path=out / "anvil-build.log") as chain:
        addresses = build_market(chain, spec).addresses()
        addresses["block_number"] = chain.block_number()
    if not state.is_file():
        raise RuntimeError(f"anvil did not write its state to {state}; see {out / 'anvil-build.log'}")
    (out / ADDRESSES_FILE).write_text(json.dumps(addresses, indent=2) + "\n")
    return addresses


def read_addresses(state_dir: str | Path) -> dict:
    path = Path(state_dir) / ADDRESSES_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: build a local mainnet with `python -m envs.contracts build-localnet --out {state_dir}`"
        )
    return json.loads(path.read_text())


def serve_localnet(state_dir: str | Path, port: int | None = None, **process_args) -> AnvilProcess:
    """Start anvil serving the local mainnet (or the replica of mainnet) saved in ``state_dir``."""
    state_dir = Path(state_dir)
    addresses = read_addresses(state_dir)  # its chain id too: the replica of mainnet is chain 1
    process_args.setdefault("chain_id", addresses.get("chain_id"))
    return AnvilProcess(port, load_state=state_dir / STATE_FILE, **process_args)


@contextmanager
def localnet_market(state_dir: str | Path, port: int | None = None) -> Iterator[Market]:
    """Serve the local mainnet and yield its market (on an AnvilChain that owns the node)."""
    state_dir = Path(state_dir)
    addresses = read_addresses(state_dir)
    with AnvilChain(port, load_state=state_dir / STATE_FILE, chain_id=addresses.get("chain_id")) as chain:
        yield attach_market(chain, addresses)
