"""Attach mode for the Aave envs: on the replica's Aave V3 market and pool, the WETH oracle moved through
AaveOracle's own sources, accounts funded by storage; evm and anvil agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.aave_leverage import AaveLeverageEnv
from envs.aave_liquidator import AaveLiquidatorEnv
from envs.contracts.address_book import address_book
from envs.contracts.localnet import serve_localnet
from envs.contracts.replica import build_replica
from envs.evm.rpc import RpcChain

ROOT = Path(__file__).resolve().parents[1]
BOOK = address_book("ethereum")


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory):
    out = tmp_path_factory.mktemp("replica")
    build_replica(out)
    with serve_localnet(out) as node:
        yield node.url


def _episode(env, actions) -> tuple[np.ndarray, list[float]]:
    obs, _ = env.reset(seed=1)
    rows, gaps = [np.r_[obs, 0.0]], []
    market = env.core.market
    for action in actions:
        obs, reward, _, _, _ = env.step(action)
        rows.append(np.r_[obs, reward])
        gaps.append(float(market.lending.oracle_price()[0] / market.reference_price()[0] - 1))
    return np.array(rows), gaps


@pytest.mark.parametrize(
    "make, actions",
    [
        (
            lambda b, url: AaveLeverageEnv(
                backend=b, fork_url=url, addresses="ethereum", horizon=5, driver="gbm", lending={"borrowers": 2}
            ),
            [3, 0, 1, 4, 0],
        ),
        (
            lambda b, url: AaveLiquidatorEnv(
                backend=b, fork_url=url, addresses="ethereum", horizon=4, driver="gbm", lending={"borrowers": 3}
            ),
            [0, 1, 0, 1],
        ),
    ],
)
def test_aave_envs_attach_to_the_forks_market_and_the_rungs_agree(replica_url, make, actions):
    runs = {}
    for backend in ("evm", "anvil"):
        env = make(backend, replica_url)
        runs[backend], gaps = _episode(env, actions)
        market = env.core.market
        assert max(abs(g) for g in gaps) < 1e-8  # the oracle follows the reference price through its new source
        source = market.market.aave.oracle.call("getSourceOfAsset", market.weth.address)
        assert source.lower() == market.market.aave.aggregators["WETH"].address.lower()
        assert market.market.aave.pool.address == BOOK["aave_v3"]["pool"]
        assert market.lending.crowd is None  # the fork's own borrowers use its reserves: no scripted crowd
        if backend == "anvil":  # the one contract created on the fork is the controllable feed
            fork, first = market.chain.rpc, market.site.fork_block + 1
            created = [
                fork.request("eth_getTransactionReceipt", [tx["hash"]])["contractAddress"]
                for n in range(first, market.chain.block_number() + 1)
                for tx in fork.request("eth_getBlockByNumber", [hex(n), True])["transactions"]
                if tx["to"] is None
            ]
            assert [c.lower() for c in created] == [source.lower()]
            logs = fork.request(
                "eth_getLogs", [{"fromBlock": hex(first), "toBlock": "latest", "address": BOOK["aave_v3"]["pool"]}]
            )
            assert logs  # supplies and borrows went through the book's Pool
        env.close()
    np.testing.assert_array_equal(runs["evm"], runs["anvil"])


def test_evaluate_attaches_the_leverage_env_and_names_the_chain(replica_url, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            "env=aave_leverage",
            "backend=evm",
            f"backend.fork_url={replica_url}",
            "backend.market=attach",
            "backend.addresses=ethereum",
            "eval.episodes=1",
            "env.horizon=3",
            "eval.plots=false",
            "driver=gbm",
            "env.lending.borrowers=1",
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
    assert (chain["chain_id"], chain["market"], chain["fork_block"]) == (
        1,
        "attach",
        RpcChain(replica_url).block_number(),
    )


def test_the_arbitrage_env_attaches_to_the_real_pool_and_the_rungs_agree(replica_url):
    from envs.cex_dex_arbitrage import CexDexArbitrageEnv

    runs = {}
    for backend in ("evm", "anvil"):
        env = CexDexArbitrageEnv(backend=backend, fork_url=replica_url, addresses="ethereum", horizon=6)
        obs, _ = env.reset(seed=3)
        rows = [np.r_[obs, 0.0]] + [np.r_[o, r] for o, r, *_ in (env.step(a) for a in (4, 0, 2, 4, 1, 3))]
        runs[backend] = np.array(rows)
        assert env.core.market.provenance()["pool"] == BOOK["uniswap_v3"]["pools"]["USDC/WETH/500"]
        env.close()
    np.testing.assert_array_equal(runs["evm"], runs["anvil"])
    assert np.abs(runs["evm"][1:, -1]).max() > 0  # the agent's trades earned or lost something


def test_the_v2_lp_env_attaches_to_the_real_pair_and_the_rungs_agree(replica_url):
    from envs.uniswap_v2_lp import UniswapV2LPEnv

    pair = BOOK["uniswap_v2"]["pairs"]["USDC/WETH"]
    runs = {}
    for backend in ("evm", "anvil"):
        env = UniswapV2LPEnv(backend=backend, fork_url=replica_url, addresses="ethereum", horizon=4, driver="gbm")
        obs, _ = env.reset(seed=2)
        rows = [np.r_[obs, 0.0]] + [np.r_[o, r] for o, r, *_ in (env.step(a) for a in (3, 2, 4, 3))]  # pair shares
        runs[backend] = np.array(rows)
        market = env.core.market
        assert market.provenance()["pool"] == pair and market.v2_pair.pair.address == pair
        assert market.shares()[0][0] > 0  # the agent holds shares of the real pair
        env.close()
    np.testing.assert_array_equal(runs["evm"], runs["anvil"])


def _draw(space, rng):
    """An action drawn from ``rng`` (the same on every run), whatever the space."""
    if hasattr(space, "n"):
        return int(rng.integers(space.n))
    return rng.uniform(space.low, space.high).astype(space.dtype)


def test_the_multi_agent_market_attaches_and_the_rungs_agree(replica_url):
    from envs.defi_market_v0 import parallel_env

    totals = {}
    for backend in ("evm", "anvil"):
        env = parallel_env(
            backend=backend,
            fork_url=replica_url,
            addresses="ethereum",
            horizon=3,
            n_lps=2,
            n_arbitrageurs=1,
            n_liquidators=1,
            n_borrowers=1,
            lending={"borrowers": 2},
        )
        obs, _ = env.reset(seed=5)
        rng, total = np.random.default_rng(0), {a: 0.0 for a in env.possible_agents}
        while env.agents:
            actions = {a: _draw(env.action_space(a), rng) for a in env.agents}
            obs, rewards, *_ = env.step(actions)
            for a, r in rewards.items():
                total[a] += float(r)
        totals[backend] = total
        assert env.market.provenance()["pool"] == BOOK["uniswap_v3"]["pools"]["USDC/WETH/500"]
        env.close()
    assert totals["evm"] == totals["anvil"] and any(v != 0 for v in totals["evm"].values())
