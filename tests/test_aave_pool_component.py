"""The Aave pool component is one interface with two sides: the simulator's batched pool and the real Pool on a
chain, driven call for call through ``LendingPool`` alone, read the same positions, codes and balances."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from agents.live.market import LiveAaveMarket
from envs.arrays import array_backend
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import MarketSpec, build_market
from envs.drivers import make_driver
from envs.evm.revm import PyrevmChain
from envs.worlds.chain_aave_pool import ChainAavePool
from envs.worlds.chain_lending import one_moment_a_step
from envs.worlds.chain_world import ChainUniswapV3World
from envs.worlds.lending import LendingMarket, LendingParams, lending_of
from envs.worlds.lending_pool import LendingPool, Position
from envs.worlds.market import WBTC_PRICE_USD, UniswapV3Market
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.sim_aave_pool import SimAavePool

PRICE = 2_000.0
BORROWER, LIQUIDATOR = DEV_ACCOUNTS[3], DEV_ACCOUNTS[6]
ONE = np.ones(1, bool)
SUPPLY_USD = 50_000_000.0


@pytest.fixture(scope="module")
def pools():
    """The same Aave market twice: the simulator's (one world) and the one built on an in-process EVM."""
    lending = LendingParams(calibration="none", supply_usd=SUPPLY_USD)
    sim = SimAavePool(1, lending.reserve_params(), SUPPLY_USD, 3, array_backend("numpy"))
    sim.reset(np.array([PRICE]))
    chain = PyrevmChain()
    one_moment_a_step(chain)  # time moves only when the test moves it, on both sides
    market = build_market(
        chain,
        MarketSpec(
            prices_usd={"USDC": 1.0, "WETH": PRICE, "WBTC": WBTC_PRICE_USD},
            v3_fee_tiers=(3000,),
            aave_supply_usd=SUPPLY_USD,
        ),
    )
    usdc = market.tokens["USDC"]
    usdc.mint(LIQUIDATOR, 10**12)
    usdc.approve(LIQUIDATOR, market.aave.pool.address)
    on_chain = ChainAavePool(
        market.aave, market.tokens, BORROWER, lambda who: LIQUIDATOR, lambda token, who, raw: token.mint(who, raw)
    )
    on_chain.reset(np.array([PRICE]))  # its clock starts at the chain's time
    yield sim, on_chain, chain
    chain.close()


@pytest.fixture(scope="module")
def live_side(pools):
    """The chain side as the live adapter holds it: no way to fund an account."""
    on_chain = pools[1]
    return ChainAavePool(on_chain.aave, on_chain.tokens, BORROWER, lambda who: LIQUIDATOR)


def _same_position(sim: Position, chain: Position) -> None:
    for f in fields(Position):
        a, b = getattr(sim, f.name), getattr(chain, f.name)
        assert np.allclose(a, b, rtol=1e-12, atol=0.0), f"{f.name}: simulator {a}, chain {b}"  # to float64's ulps


def _both(pools, method: str, *args):
    sim, on_chain, _ = pools
    return getattr(sim, method)(*args), getattr(on_chain, method)(*args)


def test_a_borrowers_life_reads_the_same_through_the_component_on_both_sides(pools):
    sim, on_chain, chain = pools
    weth = np.array([10 * 10**18], dtype=float)
    _both(pools, "fund_account", 1, weth, ONE)
    assert [int(c[0]) for c in _both(pools, "supply", 1, weth, ONE)] == [0, 0]
    assert [int(c[0]) for c in _both(pools, "borrow", 1, np.array([14_000e6]), ONE)] == [0, 0]
    too_much = [int(c[0]) for c in _both(pools, "borrow", 1, np.array([5_000e6]), ONE)]
    assert too_much[0] == too_much[1] != 0  # beyond the LTV: the same Aave error on both sides
    start = chain.timestamp()
    _both(pools, "advance", 86_400.0)  # each side's clock: the simulator's, the chain's
    assert chain.timestamp() == start + 86_400
    _same_position(*_both(pools, "position", 1))
    _same_position(*_both(pools, "positions", 3))
    for symbol in ("USDC", "WETH"):
        (cash_s, debt_s), (cash_c, debt_c) = _both(pools, "reserve_usage", symbol)
        assert np.allclose(cash_s, cash_c, atol=1.0) and np.allclose(debt_s, debt_c, atol=1.0)

    _both(pools, "set_oracle_price", np.array([1_640.0]))  # its health factor falls between 0.95 and 1
    assert sim.oracle_price()[0] == on_chain.oracle_price()[0] == 1_640.0
    assert 0.95 < sim.position(1).health_factor[0] < 1  # so half the debt can be liquidated
    before = _both(pools, "lending_balances", "competitor", 1)
    (repaid_s, seized_s, code_s), (repaid_c, seized_c, code_c) = _both(pools, "liquidation_call", "competitor", 1, ONE)
    assert code_s[0] == code_c[0] == 0 and repaid_s[0] > 0
    assert np.allclose(repaid_s, repaid_c, atol=1.0) and np.allclose(seized_s, seized_c, atol=1.0)
    after = _both(pools, "lending_balances", "competitor", 1)
    fee_sim = after[0].treasury_weth - before[0].treasury_weth
    fee_chain = float(after[1].treasury_weth[0] - before[1].treasury_weth[0])
    # the protocol's cut of the bonus, on both (the simulator reads it off the reserve's whole aWETH supply, in
    # float64: to about 1e-10 of it)
    assert fee_sim[0] > 0 and fee_sim[0] == pytest.approx(fee_chain, rel=1e-9)

    usdc = on_chain.usdc  # a scripted borrower never repays in the worlds: the test lets this one
    usdc.approve(on_chain.address(1), on_chain.aave.pool.address)
    (paid_s, code_s), (paid_c, code_c) = _both(pools, "repay", 1, np.array([np.inf]), ONE)
    assert code_s[0] == code_c[0] == 0 and np.allclose(paid_s, paid_c, atol=1.0)
    (got_s, code_s), (got_c, code_c) = _both(pools, "withdraw", 1, np.array([np.inf]), ONE)  # all of it
    assert code_s[0] == code_c[0] == 0 and got_s[0] > 0 and np.allclose(got_s, got_c, atol=1.0)
    _same_position(*_both(pools, "position", 1))


def test_the_crowd_moves_a_reserve_the_same_way_on_both_sides(pools):
    wbtc = np.array([1_000 * 10**8], dtype=float)
    assert [int(c[0]) for c in _both(pools, "crowd_act", 2, "supply", "WBTC", wbtc, ONE)] == [0, 0]
    _both(pools, "crowd_rebalance", 2, "USDC", np.array([1_000_000e6]), ONE, np.zeros(1), ~ONE)
    (cash_s, debt_s), (cash_c, debt_c) = _both(pools, "reserve_usage", "USDC")
    assert debt_s[0] >= 1_000_000e6 and np.allclose(debt_s, debt_c, atol=1.0) and np.allclose(cash_s, cash_c)


def test_the_live_adapter_and_the_worlds_hold_the_component_instead_of_reimplementing_it():
    """Each world with a lending pool holds a lending side (``lending``, a LendingMarket over the component): it
    neither inherits it nor writes any of its calls again."""
    lending_calls = {name for name in vars(LendingMarket) if not name.startswith("__")} - {"reset", "step", "n", "dt"}
    assert {"supply", "withdraw", "borrow", "repay", "liquidate", "position", "oracle_price", "swap"} <= lending_calls
    for world in (UniswapV3World, ChainUniswapV3World, LiveAaveMarket):
        assert not issubclass(world, LendingMarket)
        own = {name for cls in world.__mro__ if cls not in UniswapV3Market.__mro__ for name in vars(cls)}
        assert not own & (lending_calls | {"liquidation_call"}), (world, own & lending_calls)
    assert all(getattr(LendingPool, name).__isabstractmethod__ for name in ("supply", "liquidation_call", "position"))
    sim = UniswapV3World(2, make_driver("gbm"), V3WorldParams(lps=0), "numpy", LendingParams(calibration="none"))
    assert isinstance(sim.lending, LendingMarket) and isinstance(sim.lending.pool, SimAavePool)
    assert sim.lending.world is sim and lending_of(sim) is sim.lending
    with pytest.raises(ValueError, match="holds no lending pool"):
        lending_of(UniswapV3World(2, make_driver("gbm"), V3WorldParams(lps=0)))


def test_a_live_chain_is_never_funded_by_the_component(live_side):
    for fund in (
        lambda: live_side.fund_account(1, np.ones(1), ONE),
        lambda: live_side.crowd_act(2, "supply", "WBTC", np.ones(1), ONE),
    ):
        with pytest.raises(RuntimeError, match="funded by their owners"):
            fund()


def test_a_chain_world_refuses_a_lending_side_with_replayed_blocks_before_starting_a_chain():
    def no_chain():
        raise AssertionError("the refusal comes before any chain is started")

    with pytest.raises(ValueError, match="replay_blocks"):
        ChainUniswapV3World(
            no_chain, make_driver("gbm"), V3WorldParams(lps=0), None, ("http://node", 1, None), LendingParams()
        )
    with pytest.raises(ValueError, match="backend.market=deploy"):
        ChainUniswapV3World(
            no_chain,
            make_driver("gbm"),
            V3WorldParams(lps=0),
            {"name": "ethereum"},
            None,
            LendingParams(protocol="morpho_blue", calibration="none"),
        )
