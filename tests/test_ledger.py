"""The world's ledger is the one place a wallet is kept: the simulator books its opened accounts, a chain's ledger
reads and moves the accounts' tokens, and no world keeps a wallet of its own."""

from __future__ import annotations

import numpy as np
import pytest

from agents.live.market import LiveAaveMarket
from envs.drivers import make_driver
from envs.worlds.chain_v2 import ChainUniswapV2World
from envs.worlds.chain_world import ChainUniswapV3World
from envs.worlds.ledger import OFF_MARKET, ChainLedger, SimLedger
from envs.worlds.make import make_market
from envs.worlds.market import UniswapV3Market
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.sim_v2 import UniswapV2World
from envs.worlds.v2_market import UniswapV2Market


def test_the_simulated_ledger_books_the_accounts_it_opened():
    ledger = SimLedger(3)
    ledger.open(0, 5.0, np.array([1.0, 2.0, 3.0]))
    usdc, weth = ledger.balances(0)
    usdc += 100  # a copy: the caller cannot move the books
    np.testing.assert_array_equal(ledger.balances(0)[0], [5.0, 5.0, 5.0])
    ledger.moved(0, np.array([-1.0, 0.0, 2.0]), np.zeros(3))
    ledger.shift(0, np.zeros(3), np.array([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(ledger.balances(0)[0], [4.0, 5.0, 7.0])
    np.testing.assert_array_equal(ledger.balances(0)[1], [1.5, 2.5, 3.5])
    ledger.moved("arbitrageur", np.ones(3), np.ones(3))  # unbounded scripted accounts are booked by nobody
    assert ledger.accounts == [0]
    with pytest.raises(KeyError, match="holds no account 'borrower': open it first"):
        ledger.balances("borrower")
    with pytest.raises(KeyError, match="holds no account 7"):
        ledger.shift(7, np.ones(3), np.zeros(3))
    with pytest.raises(KeyError, match="holds no account 2"):  # a slot never opened is a bug, not a trader
        ledger.moved(2, np.ones(3), np.zeros(3))


def test_a_chain_ledger_reads_the_tokens_and_moves_them_off_the_market():
    world = make_market("evm", 1, make_driver("gbm", dt=3600.0, sigma=0.5), V3WorldParams(flow="toy"))
    world.reset(np.random.default_rng(1), 10_000.0)
    ledger = world.ledger
    assert isinstance(ledger, ChainLedger)
    usdc, weth = ledger.balances(0)
    assert usdc[0] == world.usdc.balance_of(world.agent) and weth[0] == world.weth.balance_of(world.agent)
    ledger.moved(0, np.array([-1e6]), np.zeros(1))  # the protocols' own transfers move a chain's tokens
    assert ledger.balances(0)[0][0] == usdc[0]
    outside = world.usdc.balance_of(OFF_MARKET)
    ledger.shift(0, np.array([-2 * usdc[0]]), np.array([3e18]))  # no more than the account holds leaves it
    assert ledger.balances(0)[0][0] == 0 and world.usdc.balance_of(OFF_MARKET) == outside + usdc[0]
    assert ledger.balances(0)[1][0] == weth[0] + 3e18
    live = ChainLedger(world.usdc, world.weth, lambda account: world.agent, None)
    held = live.balances(0)
    for usdc, weth in ((0.0, 1e18), (-1e6, 0.0)):  # nothing comes in, nothing leaves, off a live market
        with pytest.raises(RuntimeError, match="funded by its owner"):
            live.shift(0, np.array([usdc]), np.array([weth]))
    assert live.balances(0) == held
    world.close()


def test_the_worlds_keep_no_wallet_of_their_own():
    kept = {"wallet_raw", "agent_wallet_raw", "shift_wallet", "borrower_wallet", "fund_borrower", "_agent_moved"}
    for world in (UniswapV3World, ChainUniswapV3World, LiveAaveMarket):
        own = {name for cls in world.__mro__ if cls not in UniswapV3Market.__mro__ for name in vars(cls)}
        assert not own & kept, (world, own & kept)
    for world in (UniswapV2World, ChainUniswapV2World):
        own = {name for cls in world.__mro__ if cls not in UniswapV2Market.__mro__ for name in vars(cls)}
        assert not own & kept, (world, own & kept)
