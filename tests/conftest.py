"""Shared fixtures: the local market deployed on each EVM rung, reverted after every test."""
from __future__ import annotations

import os

import pytest

from envs.backends.anvil import AnvilChain
from envs.backends.evm import PyrevmChain
from envs.chain.market import Market, build_market

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
