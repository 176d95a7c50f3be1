"""Event data against a served local mainnet with scripted traffic: what eth_getLogs fetches equals what
the transactions emitted, through a node that refuses large ranges and one that dies mid-fetch; the
fetched events replay through the simulated pool exactly; public exports read into the same rows."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.contract import abi_of
from envs.contracts.localnet import build_localnet, read_addresses, serve_localnet
from envs.contracts.market import attach_market
from envs.data.__main__ import main as data_cli
from envs.data.events import EventDataError, FetchPlan, fetch_events, read_events
from envs.data.readers import read_export
from envs.evm.anvil import free_port
from envs.evm.rpc import RpcChain
from envs.flows.replay import check_replay, read_pool_at

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "uniswap_v3"
TRADERS, LPS = DEV_ACCOUNTS[2:4], DEV_ACCOUNTS[5:7]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """A served local mainnet after 40 scripted swaps, mints, partial burns and collects in the 0.05% pool:
    (node, pool address, the block before the traffic, the last block, the pool events emitted, in order)."""
    out = tmp_path_factory.mktemp("localnet")
    build_localnet(out)
    with serve_localnet(out) as anvil:
        market = attach_market(RpcChain(anvil.url), read_addresses(out))
        usdc, weth, pool, v3 = market.tokens["USDC"], market.tokens["WETH"], market.v3_pools[500], market.v3
        for who in (*TRADERS, *LPS):
            usdc.mint(who, 50_000_000 * 10**6)
            weth.mint(who, 20_000 * 10**18)
            usdc.approve(who, v3.router.address)
            weth.approve(who, v3.router.address)
        start = market.chain.block_number()
        pool_abi, emitted, positions = abi_of("UniswapV3Pool"), [], []
        rng = np.random.default_rng(7)

        def record(result) -> None:
            mine = [log for log in result.logs if log.address.lower() == pool.address.lower()]
            emitted.extend(
                (e.pop("event"), {k: v for k, v in e.items() if k != "address"}) for e in pool_abi.decode_logs(mine)
            )

        for step in range(40):
            kind = rng.choice(["buy", "sell", "mint", "burn", "collect"], p=[0.35, 0.35, 0.12, 0.1, 0.08])
            trader = TRADERS[step % 2]
            if kind == "buy":
                amount = int(rng.lognormal(np.log(200_000), 1.5) * 10**6)
                record(
                    v3.router.transact(
                        "exactInputSingle",
                        (usdc.address, weth.address, 500, trader, 2**64, amount, 0, 0),
                        sender=trader,
                    )
                )
            elif kind == "sell":
                amount = int(rng.lognormal(np.log(80), 1.5) * 10**18)
                record(
                    v3.router.transact(
                        "exactInputSingle",
                        (weth.address, usdc.address, 500, trader, 2**64, amount, 0, 0),
                        sender=trader,
                    )
                )
            elif kind == "mint" or not positions:
                lp = LPS[step % 2]
                tick = pool.call("slot0")[1] // 10 * 10
                lower, upper = tick - 10 * int(rng.integers(1, 300)), tick + 10 * int(rng.integers(1, 300))
                usdc.approve(lp, v3.position_manager.address)
                weth.approve(lp, v3.position_manager.address)
                result = v3.position_manager.transact(
                    "mint",
                    (usdc.address, weth.address, 500, lower, upper, 1_000_000 * 10**6, 400 * 10**18, 0, 0, lp, 2**64),
                    sender=lp,
                )
                record(result)
                (minted,) = v3.position_manager.events(result, "IncreaseLiquidity")
                positions.append((lp, minted["tokenId"]))
            elif kind == "burn":
                lp, token_id = positions[int(rng.integers(len(positions)))]
                liquidity = v3.position(token_id)["liquidity"]
                if liquidity:
                    record(
                        v3.position_manager.transact(
                            "decreaseLiquidity", (token_id, liquidity // 3, 0, 0, 2**64), sender=lp
                        )
                    )
            else:
                lp, token_id = positions[int(rng.integers(len(positions)))]
                record(v3.position_manager.transact("collect", (token_id, lp, 2**128 - 1, 2**128 - 1), sender=lp))
        yield anvil, pool.address, start, market.chain.block_number(), emitted


def _rows(records) -> list[tuple[str, dict]]:
    return [(r.event, r.args) for r in records]


def _normalized(rows):
    return [(name, {k: v.lower() if isinstance(v, str) else v for k, v in args.items()}) for name, args in rows]


def test_fetched_events_equal_the_emitted_ones_and_replay_exactly(traffic, tmp_path):
    anvil, pool, start, end, emitted = traffic
    plan = FetchPlan(anvil.url, pool, start + 1, end, chunk=7, progress=False)
    out = fetch_events(plan, tmp_path / "events.parquet")
    fetched = read_events(out)
    assert _normalized(_rows(fetched)) == _normalized(emitted)  # every event, every exact integer, in order
    assert {r.event for r in fetched} == {"Swap", "Mint", "Burn", "Collect"}
    assert all(r.timestamp and r.tx_hash for r in fetched)
    assert len(plan.requests) > 1  # it went chunk by chunk

    report = check_replay(fetched, 500, read_pool_at(anvil.url, pool, start))
    assert report.swaps == sum(name == "Swap" for name, _ in emitted) and report.burns > 0 and report.mints > 0
    assert report.max_rel_err_sqrt_price < 1e-9, report
    assert report.max_abs_err_tick == 0 and report.max_rel_err_liquidity < 1e-9, report
    assert report.collects_checked > 0  # the fees credited equal what the Collect paid beyond the burns' principal
    assert report.max_rel_err_fees < 1e-6 or report.max_abs_err_fees <= 2, report

    again = FetchPlan(anvil.url, pool, start + 1, end, chunk=7, progress=False)  # cached: asks the node nothing
    fetch_events(again, tmp_path / "events.parquet")
    assert again.requests == []


def test_the_cli_fetches_and_checks_a_replay_in_one_json_line(traffic, tmp_path, capsys):
    anvil, pool, start, end, emitted = traffic
    out = tmp_path / "cli.parquet"
    assert (
        data_cli(
            [
                "events",
                "--rpc",
                anvil.url,
                "--pool",
                pool,
                "--from-block",
                str(start + 1),
                "--to-block",
                str(end),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    fetched = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert fetched["events"] == len(emitted) and fetched["protocol"] == "uniswap_v3" and fetched["fee_pips"] == "500"
    assert data_cli(["check-replay", str(out), "--rpc", anvil.url]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["swaps"] > 0 and line["max_rel_err_sqrt_price"] < 1e-9 and line["start"] == "chain"


class _Provider(BaseHTTPRequestHandler):
    """A node in front of anvil that behaves like a hosted provider: eth_getLogs over ``max_range`` blocks
    is refused, and once ``fail_after`` eth_getLogs calls have been served it answers HTTP 503 only."""

    upstream: str = ""
    max_range = 3
    fail_after: int | None = None
    served = 0

    def do_POST(self):  # noqa: N802  (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        calls = body if isinstance(body, list) else [body]
        if any(c["method"] == "eth_getLogs" for c in calls):
            cls = type(self)
            if cls.fail_after is not None and cls.served >= cls.fail_after:
                self.send_response(503)
                self.end_headers()
                return
            query = calls[0]["params"][0]
            if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > cls.max_range:
                reply = {
                    "jsonrpc": "2.0",
                    "id": calls[0]["id"],
                    "error": {"code": -32005, "message": f"query exceeds max block range {cls.max_range}"},
                }
                return self._send(reply)
            cls.served += 1
        self._send(requests.post(self.upstream, json=body, timeout=30).json())

    def _send(self, reply) -> None:
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_a_refused_range_shrinks_the_chunk_and_a_fetch_that_died_resumes(traffic, tmp_path):
    anvil, pool, start, end, emitted = traffic
    handler = type("Provider", (_Provider,), {"upstream": anvil.url, "fail_after": 3, "served": 0})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = FetchPlan(url, pool, start + 1, end, protocol="uniswap_v3", chunk=50, retries=1, progress=False)
        with pytest.raises(EventDataError, match="failed 2 times"):
            fetch_events(first, tmp_path / "events.parquet")  # the provider dies after three ranges
        handler.fail_after = None
        second = FetchPlan(url, pool, start + 1, end, protocol="uniswap_v3", chunk=50, retries=1, progress=False)
        out = fetch_events(second, tmp_path / "events.parquet")
    finally:
        server.shutdown()
    assert _normalized(_rows(read_events(out))) == _normalized(emitted)
    served_first = [r for r in first.requests if int(r.split("-")[1]) - int(r.split("-")[0]) < 3][:3]
    assert not set(served_first) & set(second.requests)  # what the first run fetched was not asked again
    assert int(second.requests[0].split("-")[0]) > start + 1


def test_the_shared_real_day_replays_from_its_own_events(tmp_path):
    """demeter-fetch's export of the 0.3% pool on 2024-01-05 (all its swaps, mints, burns and collects),
    the starting pool reconstructed from the events alone."""
    records, metadata = read_export(SHARED / "usdc_weth_3000_events_2024-01-05.csv")
    assert metadata["exact"] == "true" and len(records) == 304
    report = check_replay(records, 3000)
    assert report.swaps == 266 and report.mints == 4
    assert report.max_rel_err_sqrt_price < 1e-9 and report.max_abs_err_tick == 0, report


def test_unknown_export_columns_are_named(tmp_path):
    bad = tmp_path / "bars.csv"
    bad.write_text("timestamp,open,close\n1,2,3\n")
    with pytest.raises(EventDataError, match="unknown event export.*Known formats"):
        read_export(bad)
    subgraph, metadata = read_export(SHARED / "usdc_weth_3000_swaps_2021-08-10_2021-09-05.csv")
    assert metadata["exact"] == "false" and len(subgraph) == 13_413 and {r.event for r in subgraph} == {"Swap"}
    assert subgraph[0].args["amount0"] == -118_065_214_500  # whole USDC in the export, raw units here
