"""The replica of mainnet: the ethereum address book's contracts at their real addresses on an offline
chain with id 1, so the command a user runs against an archive RPC runs here unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eth_utils import keccak

from envs.contracts.address_book import address_book, attach_book, contract_addresses
from envs.contracts.balances import Dealer
from envs.contracts.localnet import serve_localnet
from envs.contracts.replica import REAL_POOLS, build_replica
from envs.evm.rpc import RpcChain
from envs.uniswap_v3_lp import UniswapV3LPEnv

ROOT = Path(__file__).resolve().parents[1]
BOOK = address_book("ethereum")
POOL = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"


def _low(*addresses: str) -> tuple[str, ...]:
    return tuple(a.lower() for a in addresses)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    out = tmp_path_factory.mktemp("replica")
    build_replica(out)
    with serve_localnet(out) as node:
        yield node.url, out


def test_the_replica_holds_the_books_contracts_wired_at_their_real_addresses(replica):
    url, _ = replica
    chain = RpcChain(url)
    assert chain.chain_id == 1
    market = attach_book(chain, BOOK)  # raises unless every address of the book has code
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    assert market.v3.pool(usdc, weth, 500).address.lower() == POOL
    assert market.v3.pool(usdc, weth, 3000).address == BOOK["uniswap_v3"]["pools"]["USDC/WETH/3000"]
    assert market.v2.pair(usdc, weth).address == BOOK["uniswap_v2"]["pairs"]["USDC/WETH"]
    for periphery in (market.v3.position_manager, market.v3.router, market.v3.quoter):
        assert _low(periphery.call("factory"), periphery.call("WETH9")) == _low(
            BOOK["uniswap_v3"]["factory"], weth.address
        )
    assert _low(market.v2.router.call("factory")) == _low(BOOK["uniswap_v2"]["factory"])
    provider, a3 = market.aave.addresses_provider, BOOK["aave_v3"]
    assert _low(
        *(
            provider.call(f)
            for f in ("getPool", "getPriceOracle", "getPoolDataProvider", "getACLManager", "getPoolConfigurator")
        )
    ) == _low(a3["pool"], a3["oracle"], a3["protocol_data_provider"], a3["acl_manager"], a3["pool_configurator"])
    for fee, (price, liquidity) in REAL_POOLS.items():  # the real pools' price and in-range liquidity of 2024-01-05
        pool = market.v3_pools[fee]
        assert pool.call("liquidity") == pytest.approx(liquidity, rel=1e-12)
        assert 1e12 / (pool.call("slot0")[0] / 2**96) ** 2 == pytest.approx(price, rel=1e-9)
    assert market.v3_pools[3000].call("slot0")[1] == 199032  # the tick of the 0.3% pool's first swap that day
    # the relocated Aave market works: supply WETH, borrow USDC against it
    user = "0x" + "77" * 20
    chain.set_balance(user, 10**18)
    Dealer(chain).deal(weth, user, 10 * 10**18)
    market.aave.supply(user, weth, 10 * 10**18)
    market.aave.borrow(user, usdc, 5_000 * 10**6)
    assert usdc.balance_of(user) == 5_000 * 10**6 and market.aave.user_account_data(user)["health_factor"] > 10**18


def test_attach_with_the_ethereum_book_acts_on_the_real_pool_address_and_rungs_agree(replica):
    url, _ = replica
    runs = {}
    for backend in ("evm", "anvil"):
        env = UniswapV3LPEnv(
            backend=backend, fork_url=url, addresses="ethereum", horizon=4, driver="gbm", initial_half_width=200
        )
        obs, _ = env.reset(seed=2)
        rows = [np.r_[obs, 0.0]] + [np.r_[o, r] for o, r, *_ in (env.step(a) for a in (0, 3, 0, 1))]
        runs[backend] = np.array(rows)
        world = env.core.market
        assert world.provenance()["pool"].lower() == POOL and world.provenance()["chain_id"] == 1
        if backend == "anvil":
            fork = world.chain.rpc
            logs = fork.request("eth_getLogs", [{"fromBlock": hex(world.site.fork_block + 1), "toBlock": "latest"}])
            assert {lg["address"].lower() for lg in logs} <= {a.lower() for a in contract_addresses(BOOK).values()}
            mint = "0x" + keccak(text="Mint(address,address,int24,int24,uint128,uint256,uint256)").hex()
            assert any(lg["address"].lower() == POOL and lg["topics"][0] == mint for lg in logs)
        env.close()
    np.testing.assert_array_equal(runs["evm"], runs["anvil"])


def test_the_command_for_an_archive_rpc_runs_unchanged_on_the_replica(replica, tmp_path):
    url, folder = replica
    result = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            "policy=baseline:passive_lp",
            "backend=anvil",
            f"backend.fork_url={url}",
            "backend.market=attach",
            "backend.addresses=ethereum",
            "eval.episodes=1",
            "eval.policies=[]",
            "env.horizon=4",
            "eval.plots=false",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    chain = json.loads(Path(result.stdout.strip().splitlines()[-1]).read_text())["settings"]["chain"]
    head = RpcChain(url).block_number()  # the head, read once and pinned: the fork block
    assert (chain["pool"].lower(), chain["chain_id"], chain["fork_block"]) == (POOL, 1, head)
