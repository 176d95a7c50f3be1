"""A Uniswap V3 world without an LP agent (``V3WorldParams.lps=0``), the world the Aave and arbitrage envs run
on: it steps exactly as the same world with an idle LP agent of $1 (what those envs used to build), on the
simulator and on the chain, its scripted traders (re-centring LP, sandwich searcher, JIT LP) in the slots
after the LP agents'; it holds no LP agent's wallet, and a world with LP agents and no ``agent_usd`` is
refused, as is an ``agent_usd`` for a world without them."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.contracts.state_reader import read_v3_pool
from envs.drivers import make_driver
from envs.evm.revm import PyrevmChain
from envs.worlds.chain_world import AGENT, ChainUniswapV3World
from envs.worlds.forked_sim import ForkedStartWorld, PoolOrigin
from envs.worlds.lending import AGENT as AGENT_WALLET
from envs.worlds.lending import LendingParams
from envs.worlds.make import make_market
from envs.worlds.sim import V3WorldParams

#: scripted traders in every slot kind, with swaps large enough for the JIT LP and the searcher to act
SCRIPTED = V3WorldParams(
    recentering_lps=((120, 0.2),),
    sandwich_usd=2e6,
    jit_usd=1e6,
    jit_min_swap_usd=5_000.0,
    slippage_bps=50.0,
    noise_trade_usd=50_000.0,
)
LENDING = LendingParams(borrowers=3)
STEPS = 6
SEED = {"numpy": 5, "torch": 5, "evm": 3}  # seeds whose steps hold a sandwich (one world on the chain, three here)


def _driver():
    return make_driver("gbm", dt=3600.0, sigma=0.8)


def _world(backend: str, params: V3WorldParams, lending: LendingParams | None = LENDING):
    return make_market(backend, 1 if backend == "evm" else 3, _driver(), params, lending=lending)


def _trace(world, first_scripted: int) -> list[np.ndarray]:
    """Each step's pool, reference, scripted traders' take, wallets and ranges (slots from ``first_scripted``),
    and Aave accounts, after a reset with the backend's seed."""
    rows = []
    for t in range(STEPS + 1):
        if t:
            world.step()
        row = [world.pool_price(), world.tick(), world.active_liquidity(), world.reference_price()]
        row += [world.sandwich_profit_usd, world.jit_fees_usd] if t else []
        for slot in range(first_scripted, world.slots):
            row += list(world.slot_wallet(slot))
            world.select_lp(slot)
            row += list(world.agent_range())
        if world.slots:
            world.select_lp(0)
        if world.lending is not None:
            every = world.lending.account_positions()
            row += [every.collateral_weth.ravel(), every.debt_usdc.ravel(), every.health_factor.ravel()]
        rows.append(np.concatenate([np.asarray(x, dtype=float).ravel() for x in row]))
    return rows


def _assert_same(after: list[np.ndarray], before: list[np.ndarray]) -> None:
    assert len(after) == len(before) == STEPS + 1
    for t, (a, b) in enumerate(zip(after, before)):
        np.testing.assert_array_equal(a, b, err_msg=f"step {t}")


def _before_and_after(backend: str, params: V3WorldParams, lending: LendingParams | None = LENDING):
    """The world with an idle LP agent of $1, and without an LP agent: their traces."""
    with_lp = _world(backend, replace(params, lps=1), lending)
    with_lp.reset(np.random.default_rng(SEED[backend]), 1.0)
    without = _world(backend, replace(params, lps=0), lending)
    without.reset(np.random.default_rng(SEED[backend]))
    return _trace(with_lp, 1), _trace(without, 0)


@pytest.mark.parametrize("backend", ["numpy", "torch", "evm"])
@pytest.mark.parametrize("params", [V3WorldParams(), SCRIPTED], ids=["plain", "scripted"])
def test_a_world_without_an_lp_agent_steps_as_one_with_an_idle_lp(backend, params):
    before, after = _before_and_after(backend, params)
    _assert_same(after, before)


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_the_scripted_traders_act_in_the_compared_steps(backend):
    """The comparison above covers each scripted slot: the searcher sandwiched, the JIT LP earned, and the
    re-centring LP moved its range, in a world without an LP agent."""
    world = _world(backend, replace(SCRIPTED, lps=0))
    world.reset(np.random.default_rng(SEED[backend]))
    world.select_lp(0)
    opened = world.agent_range()[0].copy()
    profit = fees = 0.0
    for _ in range(STEPS):
        world.step()
        profit, fees = profit + world.sandwich_profit_usd.sum(), fees + world.jit_fees_usd.sum()
    world.select_lp(0)
    assert profit > 0 and fees > 0 and (world.agent_range()[0] != opened).any()


def test_the_chain_world_gives_no_scripted_trader_the_lp_agents_account():
    world = _world("evm", replace(SCRIPTED, lps=0), None)
    world.reset(np.random.default_rng(5))
    addresses = [world.slot_address(slot) for slot in range(world.slots)]
    assert AGENT not in addresses and len(set(addresses)) == world.slots == 3
    assert world.usdc.balance_of(AGENT) == 0 and world.weth.balance_of(AGENT) == 0  # nobody funded it
    assert world.agent == addresses[0]  # the first slot is selected: the re-centring LP's
    world.close()
    with_lp = ChainUniswapV3World(PyrevmChain, _driver(), SCRIPTED)
    assert with_lp.slot_address(0) == with_lp.agent == AGENT and AGENT not in map(with_lp.slot_address, (1, 2, 3))
    with_lp.close()


def test_a_simulated_world_without_an_lp_agent_holds_no_lp_wallet():
    plain = _world("numpy", V3WorldParams(lps=0))
    plain.reset(np.random.default_rng(5))
    assert plain.slots == 0 and plain.ledger.accounts == ["borrower"] and plain.pool_params.max_positions == 0
    with pytest.raises(ValueError, match="LP 0 does not exist"):
        plain.select_lp(0)
    scripted = _world("numpy", replace(SCRIPTED, lps=0))
    scripted.reset(np.random.default_rng(5))
    assert scripted.slots == 3 and scripted.params.searcher_slot == 1 and scripted.params.jit_slot == 2
    np.testing.assert_array_equal(scripted.wallet_raw(1)[0], np.floor(2e6 / 2 * 1e6))  # the searcher's, its own


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_nobody_trades_from_the_lp_agents_wallet_in_a_world_without_one(backend):
    world = _world(backend, V3WorldParams(lps=0))
    world.reset(np.random.default_rng(5))
    n = world.n
    with pytest.raises(ValueError, match="lps=0"):
        world.lending.swap(AGENT_WALLET, np.ones(n, bool), np.full(n, 1e9), np.ones(n, bool))


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_a_world_with_lp_agents_and_no_agent_usd_is_refused_naming_the_fix(backend):
    fix = r"1 LP agent\(s\): reset\(rng, agent_usd=\.\.\.\) gives each .* built with V3WorldParams\(lps=0\)"
    with pytest.raises(ValueError, match=fix):
        _world(backend, V3WorldParams()).reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"no LP agent \(lps=0\): agent_usd=100000.0 would fund nobody"):
        _world(backend, V3WorldParams(lps=0)).reset(np.random.default_rng(0), 100_000.0)


def test_lps_counts_lp_agents():
    with pytest.raises(ValueError, match="lps=-1 must be the number of LP agents, 0 or more"):
        V3WorldParams(lps=-1)
    assert V3WorldParams(lps=0).slots == 0 and replace(SCRIPTED, lps=0).slots == SCRIPTED.slots - 1 == 3


@pytest.mark.parametrize(
    "env_id", ["defigym/AaveLeverage-v0", "defigym/AaveLiquidator-v0", "defigym/CexDexArbitrage-v0"]
)
@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_the_envs_without_an_lp_role_build_their_world_without_an_lp_agent(env_id, backend):
    env = gym.make(env_id, backend=backend, horizon=2)
    env.reset(seed=0)
    env.step(0)
    market = env.unwrapped.core.market
    assert market.params.lps == 0 and market.slots == 0
    env.close()


def test_replayed_and_forked_worlds_without_an_lp_agent_step_as_with_an_idle_one(tmp_path):
    """The replaying world (its real LPs' positions in the slots after the agents') and the world started from
    a chain's pool (its pool read from a market built on pyrevm) without an LP agent."""
    from envs.data.events import write_events
    from envs.data.readers import read_export
    from tests.test_replay_env import DAY

    records, metadata = read_export(DAY)
    day = write_events(records, tmp_path / "day.parquet", {**metadata, "fee_pips": "3000"})
    replay = V3WorldParams(fee_pips=3000, flow="replay", flow_file=str(day))
    before, after = _before_and_after("numpy", replay, None)
    _assert_same(after, before)

    chain_world = ChainUniswapV3World(PyrevmChain, _driver(), V3WorldParams(lps=0))
    chain_world.reset(np.random.default_rng(5))
    origin = PoolOrigin("", chain_world.chain.chain_id, 0, chain_world.pool.address, read_v3_pool(chain_world.pool))
    traces = []
    for lps, agent_usd in ((1, 1.0), (0, None)):
        world = ForkedStartWorld(3, _driver(), V3WorldParams(lps=lps), "numpy", origin)
        world.reset(np.random.default_rng(5), agent_usd)
        traces.append(_trace(world, lps))
    assert world.pool_params.max_positions == 0
    _assert_same(traces[1], traces[0])
    chain_world.close()
