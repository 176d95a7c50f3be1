"""backend.replay_blocks: the forked chain's own transactions after the fork block, re-sent into the fork
(signed as they were on anvil, from the impersonated sender on pyrevm), tested on a recorded history of
the served local mainnet."""

from __future__ import annotations

import numpy as np
import pytest

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.address_book import address_book
from envs.contracts.balances import Dealer
from envs.contracts.localnet import build_localnet, serve_localnet
from envs.contracts.market import attach_market
from envs.contracts.replay import BlockReplayer
from envs.evm.anvil import AnvilChain
from envs.evm.revm import PyrevmChain
from envs.evm.rpc import RpcChain
from envs.uniswap_v3_lp import UniswapV3LPEnv

TRADER = DEV_ACCOUNTS[3]  # a key the node holds: its transactions are signed, as on a real chain
SWAPS = 4


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """(URL, book folder, fork block B, the hashes of the SWAPS one-swap blocks after B, slot0 at the head)."""
    out = tmp_path_factory.mktemp("localnet")
    build_localnet(out)
    with serve_localnet(out) as node:
        chain = RpcChain(node.url)
        m = attach_market(chain, address_book(out))
        usdc, weth = m.tokens["USDC"], m.tokens["WETH"]
        chain.set_balance(TRADER, 10**19)
        Dealer(chain).deal(weth, TRADER, 1_000 * 10**18)
        Dealer(chain).deal(usdc, TRADER, 2_000_000 * 10**6)
        for token in (usdc, weth):
            token.approve(TRADER, m.v3.router.address)
        block = chain.block_number()  # the fork point: what follows is the history to replay
        for i in range(SWAPS):
            if i % 2 == 0:
                m.v3.exact_input_single(TRADER, weth, usdc, 500, 150 * 10**18)
            else:
                m.v3.exact_input_single(TRADER, usdc, weth, 500, 100_000 * 10**6)
        rpc = chain.rpc
        hashes = [
            tx["hash"]
            for n in range(block + 1, block + SWAPS + 1)
            for tx in rpc.request("eth_getBlockByNumber", [hex(n), True])["transactions"]
        ]
        yield node.url, out, block, hashes, m.v3_pools[500].call("slot0")[:2]


def _pool(chain, folder):
    return attach_market(chain, address_book(folder)).v3_pools[500]


def test_anvil_replays_the_signed_transactions_and_reaches_the_sources_state(history):
    url, folder, block, hashes, slot0 = history
    with AnvilChain(fork_url=url, fork_block=block) as fork:
        assert _pool(fork, folder).call("slot0")[:2] != slot0
        done = BlockReplayer(url, fork, block).replay(SWAPS)
        assert [r.hash for r in done] == hashes and all(r.raw and r.ok for r in done)
        on_fork = [
            tx["hash"]
            for n in range(block + 1, fork.block_number() + 1)
            for tx in fork.rpc.request("eth_getBlockByNumber", [hex(n), True])["transactions"]
        ]
        assert on_fork == hashes  # the very transactions, in their order
        assert _pool(fork, folder).call("slot0")[:2] == slot0


def test_pyrevm_replays_from_the_impersonated_senders_and_reaches_the_same_state(history):
    url, folder, block, hashes, slot0 = history
    fork = PyrevmChain(fork_url=url, fork_block=block, chain_id=31337)
    done = BlockReplayer(url, fork, block).replay(SWAPS)
    assert len(done) == SWAPS and all(r.ok and not r.raw for r in done)
    assert _pool(fork, folder).call("slot0")[:2] == slot0


def _run(backend: str, url: str, folder, block: int, replay_blocks: int) -> tuple[np.ndarray, dict]:
    env = UniswapV3LPEnv(
        backend=backend,
        fork_url=url,
        fork_block=block,
        addresses=str(folder),
        replay_blocks=replay_blocks,
        horizon=SWAPS,
        driver="gbm",
        initial_half_width=400,
        world={"noise_traders": 0},
    )
    obs, _ = env.reset(seed=4)
    rows = [np.r_[obs, 0.0]] + [np.r_[o, r] for o, r, *_ in (env.step(a) for a in (0, 0, 3, 0))]
    provenance = env.core.market.provenance()
    env.close()
    return np.array(rows), provenance


def test_the_env_replays_a_block_a_step_and_the_rungs_agree(history):
    url, folder, block, hashes, _ = history
    evm, evm_info = _run("evm", url, folder, block, 1)
    anvil, anvil_info = _run("anvil", url, folder, block, 1)
    np.testing.assert_array_equal(evm, anvil)
    assert evm_info["replayed_txs"] == anvil_info["replayed_txs"] == SWAPS and evm_info["replay_blocks"] == 1
    without, _ = _run("evm", url, folder, block, 0)
    assert not np.array_equal(without, evm)  # the history moved the pool the agent sits in


def test_replaying_past_the_head_fails_naming_the_key(history):
    url, folder, block, _, _ = history
    env = UniswapV3LPEnv(
        backend="evm",
        fork_url=url,
        fork_block=block,
        addresses=str(folder),
        replay_blocks=3,
        horizon=SWAPS,
        driver="gbm",
    )
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(ValueError, match=f"backend.replay_blocks.*head is block {block + SWAPS}"):
        env.step(0)
    with pytest.raises(ValueError, match="needs backend.fork_url"):
        UniswapV3LPEnv(backend="evm", replay_blocks=1)


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "numpy", "replay_blocks": 2},
        {"name": "anvil", "replay_blocks": 2},
        {"name": "evm", "fork_url": "http://x:1", "replay_blocks": -1},
    ],
)
def test_replay_blocks_config_needs_a_fork_on_a_chain_backend(overrides):
    from omegaconf import OmegaConf

    from agents.config import BackendConfig, check_backend
    from envs.uniswap_v3_lp import SPEC

    with pytest.raises(ValueError, match="backend.replay_blocks"):
        check_backend(OmegaConf.structured(BackendConfig(**overrides)), SPEC.id)


@pytest.fixture(scope="module")
def tipped_history(tmp_path_factory):
    """Two blocks after the fork point B: a swap tipping 5 gwei, then one tipping nothing."""
    from envs.contracts.uniswap_v3 import DEADLINE

    out = tmp_path_factory.mktemp("localnet_tips")
    build_localnet(out)
    with serve_localnet(out) as node:
        chain = RpcChain(node.url)
        m = attach_market(chain, address_book(out))
        usdc, weth = m.tokens["USDC"], m.tokens["WETH"]
        chain.set_balance(TRADER, 10**19)
        Dealer(chain).deal(weth, TRADER, 1_000 * 10**18)
        weth.approve(TRADER, m.v3.router.address)
        block = chain.block_number()
        hashes = []
        for tip_gwei in (5, 0):
            data = m.v3.router.encode(
                "exactInputSingle", (weth.address, usdc.address, 500, TRADER, DEADLINE, 100 * 10**18, 0, 0)
            )
            hashes.append(
                chain.rpc.request(
                    "eth_sendTransaction",
                    [
                        {
                            "from": TRADER,
                            "to": m.v3.router.address,
                            "data": "0x" + data.hex(),
                            "gas": hex(1_000_000),
                            "maxPriorityFeePerGas": hex(tip_gwei * 10**9),
                            "maxFeePerGas": hex(100 * 10**9),
                        }
                    ],
                )
            )
        yield node.url, out, block, hashes


def test_the_agent_is_ordered_among_replayed_transactions_by_its_priority_fee(tipped_history):
    """Tipping 1 gwei, the agent goes after the 5-gwei swap of its first step's block and before the 0-gwei one."""
    from envs.worlds.chain_world import AGENT

    url, folder, block, (tipped, untipped) = tipped_history
    env = UniswapV3LPEnv(
        backend="anvil",
        fork_url=url,
        fork_block=block,
        addresses=str(folder),
        replay_blocks=1,
        priority_fee_gwei=1.0,
        horizon=2,
        driver="gbm",
        world={"noise_traders": 0},
    )
    env.reset(seed=0)
    fork = env.core.market.chain
    steps = []
    for action in (3, 2):  # each step the agent (re)opens a position: transactions of its own
        first = fork.block_number() + 1
        env.step(action)
        txs = [
            tx
            for n in range(first, fork.block_number() + 1)
            for tx in fork.rpc.request("eth_getBlockByNumber", [hex(n), True])["transactions"]
        ]
        steps.append(
            [("history" if tx["hash"] in (tipped, untipped) else tx["from"].lower(), tx["hash"]) for tx in txs]
        )
    kinds = [[k for k, _ in s] for s in steps]
    assert kinds[0][0] == "history" and steps[0][0][1] == tipped  # outbid the agent: first in the step
    assert AGENT.lower() in kinds[0][1:]
    first_agent = kinds[1].index(AGENT.lower())
    history_at = kinds[1].index("history")
    assert steps[1][history_at][1] == untipped and first_agent < history_at  # the agent outbid it
    assert env.core.market.provenance()["replayed_txs"] == 2
    env.close()


def test_a_priority_fee_without_replay_fails_naming_the_keys():
    from omegaconf import OmegaConf

    from agents.config import BackendConfig, check_backend
    from envs.uniswap_v3_lp import SPEC

    with pytest.raises(ValueError, match="backend.priority_fee_gwei=1.0 .*backend.replay_blocks"):
        check_backend(
            OmegaConf.structured(BackendConfig(name="anvil", fork_url="http://x:1", priority_fee_gwei=1.0)), SPEC.id
        )
    with pytest.raises(ValueError, match="backend.priority_fee_gwei=-1.0"):
        check_backend(
            OmegaConf.structured(
                BackendConfig(name="anvil", fork_url="http://x:1", replay_blocks=1, priority_fee_gwei=-1.0)
            ),
            SPEC.id,
        )
