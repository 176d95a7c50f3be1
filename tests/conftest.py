"""Shared fixtures: the local market deployed on each EVM rung, reverted after every test."""

from __future__ import annotations

import os

import pytest

from envs.contracts.market import Market, build_market
from envs.evm.anvil import AnvilChain
from envs.evm.revm import PyrevmChain

RUNGS = ("evm", "anvil")


def make_chain(rung: str):
    return PyrevmChain() if rung == "evm" else AnvilChain()


@pytest.fixture(scope="session", params=RUNGS)
def deployed_market(request) -> Market:
    chain = make_chain(request.param)
    try:
        yield build_market(chain)
    finally:
        chain.close()


@pytest.fixture
def market(deployed_market: Market) -> Market:
    """The market on one rung; every change a test makes is reverted afterwards."""
    snap = deployed_market.chain.snapshot()
    yield deployed_market
    deployed_market.chain.revert(snap)


def process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie is gone for our purposes
    except FileNotFoundError:
        return False


def pids_running(fragment: str) -> list[int]:
    """PIDs whose command line contains ``fragment`` (to find orphaned nodes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if fragment.encode() in f.read() and process_exists(int(entry)):
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """The local mainnet served by anvil, the live agent funded lopsided (so a rebalance must swap):
    (node, path of its addresses.json, the market on it)."""
    from envs.contracts.localnet import ADDRESSES_FILE, build_localnet, read_addresses, serve_localnet
    from envs.contracts.market import attach_market
    from envs.evm.rpc import RpcChain
    from tests.local_mainnet import AGENT

    out = tmp_path_factory.mktemp("localnet")
    build_localnet(out)
    with serve_localnet(out) as anvil:
        market = attach_market(RpcChain(anvil.url), read_addresses(out))
        market.tokens["USDC"].mint(AGENT, 80_000 * 10**6)
        market.tokens["WETH"].mint(AGENT, 5 * 10**18)
        yield anvil, out / ADDRESSES_FILE, market


@pytest.fixture
def fresh(node):
    """Each test starts from the funded local mainnet."""
    anvil, addresses, market = node
    snap = market.chain.snapshot()
    yield anvil, addresses, market
    market.chain.revert(snap)
