"""Attach mode: evaluate on a fork of a chain, on the market that is already there, deploying nothing.

Offline, the forked chain is the served local mainnet and its addresses.json is the address book: the
same code path a user takes with an archive RPC of Ethereum and ``backend.addresses=ethereum``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eth_utils import keccak

from envs.contracts.address_book import AddressBookError, address_book, contract_addresses
from envs.contracts.balances import Dealer
from envs.contracts.fork import check_fork
from envs.contracts.localnet import ADDRESSES_FILE, build_localnet, serve_localnet
from envs.contracts.market import attach_market
from envs.evm.chain import ChainError
from envs.evm.rpc import JsonRpc, RpcChain
from envs.uniswap_v3_lp import UniswapV3LPEnv
from envs.worlds.chain_world import AGENT, ARBITRAGEUR

ROOT = Path(__file__).resolve().parents[1]
MINT = keccak(text="Mint(address,address,int24,int24,uint128,uint256,uint256)")
SWAP = keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)")
ACTIONS = [0, 2, 0, 4, 0, 1]  # hold, re-centre at 100 ticks, hold, re-centre at 400, hold, re-centre at 50


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """A local mainnet served by anvil: (its URL, its folder, i.e. the address book)."""
    out = tmp_path_factory.mktemp("localnet")
    build_localnet(out)
    with serve_localnet(out) as node:
        yield node.url, out


def _env(backend: str, url: str, book, **kw) -> UniswapV3LPEnv:
    return UniswapV3LPEnv(
        backend=backend,
        fork_url=url,
        addresses=str(book),
        horizon=len(ACTIONS),
        driver="gbm",
        initial_half_width=200,
        **kw,
    )


def _trajectory(env: UniswapV3LPEnv, seed: int = 5) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    rows = [np.r_[obs, 0.0, env.core.market.reference_price()]]
    for action in ACTIONS:
        obs, reward, _, _, info = env.step(action)
        rows.append(np.r_[obs, reward, info["value_usd"]])
    return np.array(rows)


def _code_hashes(rpc: JsonRpc, book: dict, block: str = "latest") -> dict[str, bytes]:
    return {key: keccak(hexstr=rpc.request("eth_getCode", [a, block])) for key, a in contract_addresses(book).items()}


def test_anvil_attach_deploys_nothing_and_the_agent_acts_on_the_books_pool(net):
    url, folder = net
    book = address_book(folder)
    pool = book["uniswap_v3"]["pools"]["USDC/WETH/500"]
    source = JsonRpc(url)
    before = _code_hashes(source, book)
    env = _env("anvil", url, folder)
    _trajectory(env)
    world = env.core.market
    assert world.provenance() == {
        "market": "attach",
        "addresses": str(folder),
        "pool": pool,
        "fee_pips": 500,
        "chain_id": 31337,
        "fork_block": book["block_number"],
        "replay_blocks": 0,
        "replayed_txs": 0,
    }
    fork = world.chain.rpc
    head = int(fork.request("eth_blockNumber"), 16)
    assert head > world.site.fork_block + 10  # the episode ran on the fork: approvals, mints, swaps
    senders: dict[str, str] = {}
    for number in range(world.site.fork_block + 1, head + 1):
        for tx in fork.request("eth_getBlockByNumber", [hex(number), True])["transactions"]:
            assert tx["to"] is not None, f"a contract was created in block {number}"
            receipt = fork.request("eth_getTransactionReceipt", [tx["hash"]])
            assert receipt["contractAddress"] is None
            senders[tx["hash"]] = tx["from"].lower()
    assert _code_hashes(fork, book) == before  # the book's contracts are the very code the source chain holds
    logs = fork.request("eth_getLogs", [{"fromBlock": hex(world.site.fork_block + 1), "toBlock": "latest"}])
    known = {a.lower() for a in contract_addresses(book).values()}
    assert logs and {lg["address"].lower() for lg in logs} <= known  # every event came from a book contract
    pool_events = [
        (bytes.fromhex(lg["topics"][0][2:]), senders[lg["transactionHash"]])
        for lg in logs
        if lg["address"].lower() == pool.lower()
    ]
    assert (MINT, AGENT.lower()) in pool_events  # the agent's positions were minted in the book's pool
    assert (SWAP, AGENT.lower()) in pool_events  # and its rebalancing swaps went through it
    assert (SWAP, ARBITRAGEUR.lower()) in pool_events  # so did the scripted arbitrageur's
    assert {e for e, _ in pool_events} <= {
        MINT,
        SWAP,
        keccak(text="Burn(address,int24,int24,uint128,uint256,uint256)"),
        keccak(text="Collect(address,address,int24,int24,uint128,uint128)"),
    }
    env.close()
    assert _code_hashes(source, book) == before and int(source.request("eth_blockNumber"), 16) == book["block_number"]


def test_evm_and_anvil_attached_at_a_past_block_give_the_same_trajectory(net):
    """The source chain moves on after block B; both rungs fork B itself (not the head) and agree."""
    url, folder = net
    source = RpcChain(url)
    snap = source.snapshot()
    try:
        market = attach_market(source, address_book(folder))
        block = source.block_number()
        pool = market.v3_pools[500]
        price_at_block = pool.call("slot0")[0]
        trader = "0x" + "5a" * 20
        source.set_balance(trader, 10**18)  # gas
        Dealer(source).deal(market.tokens["WETH"], trader, 500 * 10**18)
        market.tokens["WETH"].approve(trader, market.v3.router.address)
        market.v3.exact_input_single(trader, market.tokens["WETH"], market.tokens["USDC"], 500, 500 * 10**18)
        assert pool.call("slot0")[0] != price_at_block and source.block_number() > block
        runs = {}
        for backend in ("evm", "anvil"):
            env = _env(backend, url, folder, fork_block=block)
            runs[backend] = _trajectory(env)
            world = env.core.market
            assert world.site.fork_block == block
            expected = 10**12 / (price_at_block / 2**96) ** 2  # USD per ETH at block B, USDC token0
            assert runs[backend][0, -1] == pytest.approx(expected, rel=1e-12)  # the path starts at B's pool price
            env.close()
        np.testing.assert_array_equal(runs["evm"], runs["anvil"])
        assert np.ptp(runs["evm"][:, -1]) > 0  # the agent's value moved: the episode did something
    finally:
        source.revert(snap)


def test_evaluate_report_names_the_pool_chain_and_fork_block(net, tmp_path):
    url, folder = net
    block = address_book(folder)["block_number"]
    result = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            "policy=baseline:passive_lp",
            "backend=anvil",
            f"backend.fork_url={url}",
            f"backend.fork_block={block}",
            "backend.market=attach",
            f"backend.addresses={folder / ADDRESSES_FILE}",
            "eval.episodes=1",
            "eval.policies=[]",
            "env.horizon=4",
            "eval.plots=false",
            "driver=gbm",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(Path(result.stdout.strip().splitlines()[-1]).read_text())
    chain = report["settings"]["chain"]
    assert chain["pool"] == address_book(folder)["uniswap_v3"]["pools"]["USDC/WETH/500"]
    assert (chain["chain_id"], chain["fork_block"], chain["market"]) == (31337, block, "attach")


def test_the_ethereum_book_on_another_chain_fails_naming_the_chain_ids(net):
    url, _ = net
    with pytest.raises(AddressBookError, match="chain id 1.*31337"):
        _env("evm", url, "ethereum").reset(seed=0)


def test_a_book_whose_contracts_are_not_on_the_chain_fails_naming_them(net, tmp_path):
    url, _ = net
    book = address_book("ethereum")
    book["chain_id"] = 31337
    (tmp_path / "book.json").write_text(json.dumps(book))
    with pytest.raises(
        AddressBookError,
        match=r"no contract code at block \d+ .*uniswap_v3\.pools\.USDC/WETH/500 "
        r"\(0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640\)",
    ):
        _env("anvil", url, tmp_path / "book.json").reset(seed=0)


def test_fork_points_that_cannot_be_forked_fail_naming_the_fix(net):
    url, _ = net
    head = check_fork(url).block
    with pytest.raises(ChainError, match="does not answer JSON-RPC"):
        check_fork("http://127.0.0.1:9")
    with pytest.raises(ChainError, match=f"past the head.*{head}"):
        check_fork(url, head + 1000)
    with pytest.raises(ChainError, match="archive"):  # a served state file holds no older block's state
        check_fork(url, 1)
    with pytest.raises(ValueError, match="needs backend.fork_url"):
        UniswapV3LPEnv(backend="evm", addresses="ethereum")


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"market": "fork"}, "backend.market='fork'"),
        (
            {"market": "attach", "name": "numpy", "fork_url": "http://x:1", "addresses": "ethereum"},
            "backend=evm or backend=anvil",
        ),
        ({"market": "attach", "name": "anvil", "addresses": "ethereum"}, "needs backend.fork_url"),
        ({"market": "attach", "name": "anvil", "fork_url": "http://x:1"}, "needs backend.addresses"),
        ({"name": "anvil", "fork_url": "http://x:1", "addresses": "ethereum"}, "add backend.market=attach"),
        ({"name": "evm", "fork_block": 5}, "backend.fork_block=5 needs backend.fork_url"),
        ({"name": "evm", "init_from": "http://x:1@5"}, "backend=numpy or torch"),
    ],
)
def test_backend_keys_that_disagree_fail_at_start_naming_the_key(overrides, named):
    from omegaconf import OmegaConf

    from agents.config import BackendConfig, check_backend
    from envs.uniswap_v3_lp import SPEC

    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(".", r"\.").replace("?", r"\?")):
        check_backend(OmegaConf.structured(BackendConfig(**overrides)), SPEC.id)


def test_attach_runs_every_env():
    from omegaconf import OmegaConf

    from agents.config import BackendConfig, check_backend
    from envs import SPECS
    from envs.spec import ATTACH

    b = OmegaConf.structured(BackendConfig(name="anvil", market="attach", fork_url="http://x:1", addresses="ethereum"))
    assert len(SPECS) == 7
    for env_id, spec in SPECS.items():
        if ATTACH in spec.chain_features:
            check_backend(b, env_id)
        else:  # an env whose market is deployed beside the built one
            with pytest.raises(ValueError, match=f"backend.market=attach runs the envs .* not {env_id}"):
                check_backend(b, env_id)
    assert sum(ATTACH in spec.chain_features for spec in SPECS.values()) == 6
    with pytest.raises(ValueError, match="backend.market=attach runs the envs .* not defigym/Other-v0"):
        check_backend(b, "defigym/Other-v0")
