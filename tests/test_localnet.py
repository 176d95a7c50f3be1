"""The local mainnet: built, saved, served, and forked the way a user forks mainnet."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.localnet import STATE_FILE, build_localnet, localnet_market, read_addresses
from envs.contracts.market import Market, attach_market
from envs.evm.anvil import AnvilChain, free_port
from envs.evm.revm import PyrevmChain
from envs.evm.rpc import JsonRpc
from tests.conftest import pids_running, process_exists

TRADER = DEV_ACCOUNTS[2]


def interruptible() -> None:
    """In the child: take Ctrl-C as a user's terminal sends it, even where the test runner was started with
    SIGINT ignored (a background job of a non-interactive shell), which a child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def localnet_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("localnet")
    build_localnet(out)
    return out


@pytest.fixture(scope="module")
def served(localnet_dir):
    """The local mainnet served by anvil, as a user's `serve` would."""
    with localnet_market(localnet_dir) as market:
        yield market


def _snapshot_of(market: Market) -> dict:
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    return {
        "slot0": {fee: pool.call("slot0")[:2] for fee, pool in market.v3_pools.items()},
        "liquidity": {fee: pool.call("liquidity") for fee, pool in market.v3_pools.items()},
        "ticks": market.v3.initialized_ticks(market.v3_pools[3000]),
        "v2": market.v2.reserves(usdc, weth),
        "aave": {s: market.aave.reserve_data(t) for s, t in market.tokens.items()},
        "prices": {s: market.aave.price(t) for s, t in market.tokens.items()},
    }


def _swap_weth_for_usdc(market: Market) -> None:
    weth, usdc = market.tokens["WETH"], market.tokens["USDC"]
    weth.mint(TRADER, 50 * 10**18)
    weth.approve(TRADER, market.v3.router.address)
    market.v3.exact_input_single(TRADER, weth, usdc, 3000, 50 * 10**18)


def test_addresses_json_names_every_contract_with_decimals(localnet_dir):
    addresses = read_addresses(localnet_dir)
    assert addresses["chain_id"] == 31337
    assert {s: t["decimals"] for s, t in addresses["tokens"].items()} == {"USDC": 6, "WETH": 18, "WBTC": 8}
    assert set(addresses["uniswap_v3"]["pools"]) == {"USDC/WETH/500", "USDC/WETH/3000"}
    assert {"pool", "pool_configurator", "oracle", "price_feeds"} <= set(addresses["aave_v3"])


def test_served_localnet_holds_the_seeded_market(served: Market):
    state = _snapshot_of(served)
    assert all(liquidity > 0 for liquidity in state["liquidity"].values())
    assert len(state["ticks"]) >= 8  # several ranges, not one flat position
    assert all(r["total_atoken"] > 0 for r in state["aave"].values())


def test_anvil_fork_of_the_localnet_sees_the_same_market_and_writes_stay_on_the_fork(served: Market, localnet_dir):
    source_before = _snapshot_of(served)
    with AnvilChain(fork_url=served.chain.url) as fork_chain:
        fork = attach_market(fork_chain, read_addresses(localnet_dir))
        fork_state = _snapshot_of(fork)
        # the fork reads the source's latest block; only the timestamps of Aave reads could differ
        assert fork_state == source_before

        _swap_weth_for_usdc(fork)
        assert fork.v3_pools[3000].call("slot0")[:2] != source_before["slot0"][3000]
    assert _snapshot_of(served) == source_before


def test_pyrevm_fork_of_the_localnet_runs_the_same_swap_as_anvil(served: Market, localnet_dir):
    addresses = read_addresses(localnet_dir)
    evm_fork = attach_market(PyrevmChain(fork_url=served.chain.url), addresses)
    assert _snapshot_of(evm_fork)["slot0"] == _snapshot_of(served)["slot0"]
    snap = served.chain.snapshot()
    try:
        _swap_weth_for_usdc(evm_fork)
        _swap_weth_for_usdc(served)
        assert evm_fork.v3_pools[3000].call("slot0") == served.v3_pools[3000].call("slot0")
    finally:
        served.chain.revert(snap)


def test_cli_builds_and_serves_until_interrupted(tmp_path):
    out = tmp_path / "net"
    build = subprocess.run(
        [sys.executable, "-m", "envs.contracts", "build-localnet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    assert json.loads(build.stdout)["tokens"]["USDC"]["decimals"] == 6
    assert (out / STATE_FILE).is_file()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "envs.contracts", "serve", "--state", str(out), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        assert "serving the local mainnet" in server.stdout.readline()
        usdc = read_addresses(out)["tokens"]["USDC"]["address"]
        assert JsonRpc(f"http://127.0.0.1:{port}").request("eth_getCode", [usdc, "latest"]) != "0x"
        assert pids_running(f"--port\x00{port}\x00")  # the anvil it runs
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0
    time.sleep(0.2)
    assert not process_exists(server.pid)
    assert pids_running(f"--port\x00{port}\x00") == []  # no orphan anvil


def test_simulator_started_from_the_served_localnet_matches_it_and_its_next_swaps(served: Market, localnet_dir):
    import numpy as np

    from envs.contracts.state_reader import aave_state, read_aave_market, read_v2_pair, read_v3_pool, v3_pool_state
    from envs.evm.rpc import RpcChain
    from envs.protocols.uniswap_v2 import pair as v2
    from envs.protocols.uniswap_v3 import pool as v3
    from tests.parity import assert_close

    reader = attach_market(RpcChain(served.chain.url), read_addresses(localnet_dir))  # a user's plain RPC view
    pool = reader.v3_pools[3000]
    params, state = v3_pool_state(read_v3_pool(pool), np, 4)
    sqrt_price_x96, tick, *_ = pool.call("slot0")
    assert (state.tick == tick).all() and np.allclose(state.sqrt_price, sqrt_price_x96 / 2**96, rtol=1e-15)
    assert np.allclose(state.liquidity, pool.call("liquidity"), rtol=1e-15)
    chain_ticks = reader.v3.initialized_ticks(pool)
    sim_ticks = {int(t): float(n) for t, n in zip(state.ticks[0], state.liquidity_net[0]) if -887272 < t < 887272}
    assert sim_ticks.keys() == chain_ticks.keys()
    assert all(abs(sim_ticks[t] - chain_ticks[t]) <= 1e-15 * abs(chain_ticks[t]) for t in chain_ticks)

    usdc, weth = reader.tokens["USDC"], reader.tokens["WETH"]
    pair = v2.initial_state(np, 4, *read_v2_pair(reader.v2.pair(usdc, weth)))
    assert (pair.reserve0[0], pair.reserve1[0]) == tuple(map(float, reader.v2.reserves(usdc, weth)))

    reserves, prices, _ = read_aave_market(reader.aave, reader.tokens)
    aave_params, aave_world = aave_state(reserves, np, 4, 1)
    for r, token in enumerate(reader.tokens.values()):
        chain = reader.aave.reserve_data(token)
        assert aave_world.liquidity_index[0, r] == chain["liquidity_index"] / 1e27
        assert aave_world.available_liquidity[0, r] == float(
            token.balance_of(reader.aave.pool.call("getReserveData", token.address)[8])
        )
    assert prices == {s: reader.aave.price(t) for s, t in reader.tokens.items()}

    snap = served.chain.snapshot()
    try:
        weth_s, usdc_s = served.tokens["WETH"], served.tokens["USDC"]
        weth_s.mint(TRADER, 100 * 10**18)
        weth_s.approve(TRADER, served.v3.router.address)
        usdc_s.mint(TRADER, 100_000 * 10**6)
        usdc_s.approve(TRADER, served.v3.router.address)
        for sell_usdc, raw in ((False, 40 * 10**18), (True, 90_000 * 10**6), (False, 7 * 10**18)):
            out, _ = served.v3.exact_input_single(
                TRADER, usdc_s if sell_usdc else weth_s, weth_s if sell_usdc else usdc_s, 3000, raw
            )
            z41 = np.full(4, sell_usdc)
            result = v3.swap(state, params, z41, np.full(4, float(raw)), v3.default_price_limit(z41), np.ones(4, bool))
            assert_close("amount out", result.amount_out[0], out)
            assert int(state.tick[0]) == served.v3_pools[3000].call("slot0")[1]
    finally:
        served.chain.revert(snap)
