"""backend.init_from=URL@block: the simulator's worlds start from the pool a chain holds at a block, and
then track the same episode run in attach mode on that chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.contracts.address_book import address_book
from envs.contracts.balances import Dealer
from envs.contracts.localnet import build_localnet, serve_localnet
from envs.contracts.market import attach_market
from envs.contracts.state_reader import read_v3_pool
from envs.evm.chain import ChainError
from envs.evm.rpc import RpcChain
from envs.uniswap_v3_lp import UniswapV3LPEnv, UniswapV3LPVectorEnv
from envs.worlds.forked_sim import parse_init_from

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = [0, 2, 0, 4, 0, 1]
COMMON = dict(horizon=len(ACTIONS), driver="gbm", initial_half_width=200)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """A served local mainnet whose 0.05% pool has traded (so its fee growth is not zero): (URL, folder, block)."""
    out = tmp_path_factory.mktemp("localnet")
    build_localnet(out)
    with serve_localnet(out) as node:
        chain = RpcChain(node.url)
        market = attach_market(chain, address_book(out))
        weth, usdc, trader = market.tokens["WETH"], market.tokens["USDC"], "0x" + "5b" * 20
        chain.set_balance(trader, 10**18)
        Dealer(chain).deal(weth, trader, 300 * 10**18)
        weth.approve(trader, market.v3.router.address)
        market.v3.exact_input_single(trader, weth, usdc, 500, 300 * 10**18)
        yield node.url, out, chain.block_number()


def test_parse_init_from():
    assert parse_init_from("http://127.0.0.1:8545@19000000") == ("http://127.0.0.1:8545", 19000000)
    assert parse_init_from("https://user:pw@host/v2/key") == ("https://user:pw@host/v2/key", None)
    assert parse_init_from("https://user:pw@host/v2/key@7") == ("https://user:pw@host/v2/key", 7)


def test_every_world_starts_from_the_chains_pool_at_the_block(net):
    url, folder, block = net
    market = attach_market(RpcChain(url), address_book(folder))
    chain_pool = read_v3_pool(market.v3_pools[500])
    assert chain_pool.fee_growth_global1_x128 > 0  # the pool has earned fees: there is fee growth to carry over
    env = UniswapV3LPVectorEnv(
        num_envs=3,
        backend="numpy",
        init_from=f"{url}@{block}",
        init_addresses=str(folder),
        **(COMMON | {"initial_half_width": None}),
    )  # no opening swap: the pool as read
    env.reset(seed=1)
    world = env.core.market
    assert world.provenance() == {
        "market": "init_from",
        "pool": market.v3_pools[500].address,
        "fee_pips": 500,
        "chain_id": 31337,
        "fork_block": block,
        "initialized_ticks": len(chain_pool.ticks),
    }
    state = world.state
    price = 10**12 / (chain_pool.sqrt_price_x96 / 2**96) ** 2
    np.testing.assert_allclose(world.reference_price(), price, rtol=1e-12)  # every world's path starts there
    assert (state.tick == chain_pool.tick).all()
    np.testing.assert_allclose(state.fee_growth_global1, chain_pool.fee_growth_global1_x128 / 2**128, rtol=1e-12)
    for w in range(3):
        ticks = {
            int(t): (n, g)
            for t, n, g in zip(state.ticks[w], state.liquidity_net[w], state.liquidity_gross[w])
            if -887272 < t < 887272
        }
        assert ticks.keys() == chain_pool.ticks.keys()
        for t, (net_, gross, *_) in chain_pool.ticks.items():
            assert ticks[t][0] == pytest.approx(net_, rel=1e-15) and ticks[t][1] == pytest.approx(gross, rel=1e-15)


def test_the_simulator_from_the_fork_tracks_attach_mode_on_the_chain(net):
    """Same seed, same actions: the simulated world started from block B and the real pool forked at B agree."""
    url, folder, block = net
    chain_env = UniswapV3LPEnv(backend="evm", fork_url=url, fork_block=block, addresses=str(folder), **COMMON)
    sim_env = UniswapV3LPEnv(backend="numpy", init_from=f"{url}@{block}", init_addresses=str(folder), **COMMON)
    obs_c, _ = chain_env.reset(seed=5)
    obs_s, _ = sim_env.reset(seed=5)
    np.testing.assert_allclose(obs_s, obs_c, atol=1e-6)
    values = []
    for action in ACTIONS:
        obs_c, reward_c, _, _, info_c = chain_env.step(action)
        obs_s, reward_s, _, _, info_s = sim_env.step(action)
        np.testing.assert_allclose(obs_s, obs_c, atol=1e-5)
        assert reward_s == pytest.approx(reward_c, abs=1e-4)  # USD, on a $100k position
        assert info_s["value_usd"] == pytest.approx(info_c["value_usd"], abs=1e-4)
        values.append(info_c["value_usd"])
    assert np.ptp(values) > 1.0  # the episode moved the agent's value: the agreement is not vacuous
    chain_env.close()


def test_init_from_a_url_that_does_not_answer_says_so():
    with pytest.raises(ChainError, match="does not answer JSON-RPC"):
        UniswapV3LPVectorEnv(num_envs=2, backend="numpy", init_from="http://127.0.0.1:9@5", **COMMON)


def test_a_policy_trained_from_the_fork_is_evaluated_in_attach_mode_on_it(net, tmp_path):
    url, folder, block = net
    start = [f"backend.init_from={url}@{block}", f"backend.addresses={folder}", "env.horizon=8", "driver=gbm"]
    train = subprocess.run(
        [
            sys.executable,
            "train.py",
            "backend=numpy",
            *start,
            "train.total_timesteps=256",
            "train.num_envs=8",
            "train.eval_freq=0",
            "train.evaluate_after=false",
            "train.progress_bar=false",
            f"hydra.run.dir={tmp_path / 'train'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    evaluate = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            f"policy={tmp_path / 'train' / 'model.zip'}",
            "backend=evm",
            f"backend.fork_url={url}",
            f"backend.fork_block={block}",
            "backend.market=attach",
            f"backend.addresses={folder}",
            "env.horizon=8",
            "driver=gbm",
            "eval.episodes=1",
            "eval.policies=[]",
            "eval.plots=false",
            f"hydra.run.dir={tmp_path / 'eval'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    report = json.loads(Path(evaluate.stdout.strip().splitlines()[-1]).read_text())
    assert report["settings"]["chain"]["fork_block"] == block and len(report["policies"]) == 1
