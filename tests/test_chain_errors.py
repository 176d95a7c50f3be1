"""Bad input and failures on the EVM rungs give clear errors and leave no processes behind."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from envs.contracts import artifacts
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.contract import Contract, deploy
from envs.contracts.localnet import localnet_market
from envs.evm.anvil import AnvilChain, AnvilProcess, free_port
from envs.evm.chain import ChainError, TransactionReverted, Tx
from envs.evm.revm import PyrevmChain
from envs.evm.rpc import RpcChain
from tests.conftest import pids_running, process_exists


def test_missing_npm_packages_name_the_package_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("DEFIGYM_NODE_MODULES", str(tmp_path / "node_modules"))
    artifacts.load_artifact.cache_clear()
    try:
        with pytest.raises(artifacts.MissingArtifactError, match=r"@uniswap/v3-core is not installed.*npm ci"):
            artifacts.load_artifact("UniswapV3Pool")
    finally:
        artifacts.load_artifact.cache_clear()


def test_unknown_artifact_lists_the_known_ones():
    with pytest.raises(KeyError, match="UniswapV3Pool"):
        artifacts.load_artifact("UniswapV4Pool")


def test_linking_without_the_libraries_names_them():
    with pytest.raises(ValueError, match="BorrowLogic"):
        artifacts.load_artifact("FlashLoanLogic").linked({})


def test_busy_port_is_a_clear_error_and_starts_nothing():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ChainError, match=f"port {port} is busy"):
            AnvilProcess(port)
    assert pids_running(f"--port\x00{port}\x00") == []


def test_a_free_port_taken_before_the_node_binds_it_is_not_mistaken_for_the_node(monkeypatch):
    """Another node answering on the port picked for this one is not this one: its start fails, naming the port."""
    import envs.evm.anvil as anvil

    other = AnvilProcess()
    try:
        monkeypatch.setattr(anvil, "free_port", lambda: other.port)  # someone took it between the pick and the start
        with pytest.raises(ChainError, match=f"could not bind port {other.port}"):
            AnvilProcess()
        assert other.alive()
    finally:
        other.stop()


def test_unreachable_fork_url_is_a_clear_error_and_the_node_is_reaped():
    dead_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match="could not fork .*unreachable"):
        AnvilChain(fork_url=dead_url, startup_timeout=60)
    assert pids_running(f"--fork-url\x00{dead_url}") == []
    with pytest.raises(ChainError, match="cannot reach the node"):
        PyrevmChain(fork_url=dead_url)


def test_malformed_rpc_url_names_the_expected_form():
    with pytest.raises(ValueError, match="http://"):
        RpcChain("127.0.0.1:8545")


def test_state_dir_without_a_build_says_how_to_build_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="build-localnet"):
        with localnet_market(tmp_path):
            pass


def test_an_anvil_that_dies_is_reported_as_dead_with_its_log():
    chain = AnvilChain()
    pid = chain.node.pid
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(ChainError, match=f"anvil \\(pid {pid}\\) is gone"):
        chain.block_number()
    chain.close()
    assert not process_exists(pid)


def test_closing_a_chain_reaps_its_node():
    chain = AnvilChain()
    pid = chain.node.pid
    assert process_exists(pid)
    chain.close()
    assert not process_exists(pid)


@pytest.mark.parametrize("rung", ["evm", "anvil"])
def test_revert_reason_is_decoded(rung):
    chain = PyrevmChain() if rung == "evm" else AnvilChain()
    with chain:
        token = deploy(chain, "MintableERC20", "USD Coin", "USDC", 6)
        with pytest.raises(TransactionReverted, match="transfer amount exceeds balance"):
            chain.transact(Tx(DEV_ACCOUNTS[0], token.address, token.encode("transfer", DEV_ACCOUNTS[1], 1)))


def test_an_anvil_state_dump_loads_into_another_node():
    with AnvilChain() as source:
        token = deploy(source, "MintableERC20", "USD Coin", "USDC", 6)
        source.transact(token.tx("mint(address,uint256)", DEV_ACCOUNTS[1], 123, sender=DEV_ACCOUNTS[1]))
        blob = source.dump_state()
    with AnvilChain() as target:
        assert target.get_code(token.address) == b""
        target.load_state(blob)
        assert Contract(target, token.address, "MintableERC20").call("balanceOf", DEV_ACCOUNTS[1]) == 123
