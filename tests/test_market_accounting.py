"""defi_market_v0's block accounting closes: per block, the LPs' LVR on the arbitrage swaps (read off the
pool's liquidity curve) equals the arbitrageurs' profit before gas (read off what they paid and got) plus
the fees they paid (the input at the pool's fee rate), all at the block's reference price: on the
simulator, on the real contracts, and over a batch of markets. Every swap of the block is attributed, by who
swapped: the swappers' gains, the fees they paid the LPs and the LPs' reserve change sum to zero per block.
Every Aave liquidation of the block too, at Aave's oracle prices: the liquidators' bonus, the treasury's
protocol fee and the borrowers' change sum to zero, through a crash, on the simulator as on the real contracts."""

from __future__ import annotations

import numpy as np
import pytest

from envs import defi_market_v0
from envs.assets import aave_reserve_params
from envs.drivers import ScenarioDriver, crash
from envs.worlds.block_accounting import SWAP_GROUPS

KEYS = ("block_lvr_usd", "block_arbitrage_profit_usd", "block_arbitrage_fees_usd")
#: a volatile block: 600% a year on one-minute steps moves the price ~1% a block, across ticks
VOLATILE = {"dt": 60.0, "sigma": 6.0}
#: rounding: a ten-thousandth of a cent, or a billionth of the block's LVR
ATOL_USD, RTOL = 1e-4, 1e-9


def _market(backend: str, horizon: int, **kwargs) -> defi_market_v0.parallel_env:
    """A market with an LP that re-centres a narrow range (so arbitrage crosses its ticks) and a trader."""
    return defi_market_v0.parallel_env(backend=backend, horizon=horizon, n_traders=1, driver_kwargs=VOLATILE, **kwargs)


def _actions(env, block: int) -> dict[str, int]:
    """arbitrageur_0 takes a quarter of the trade to the band's edge (the scripted one takes the rest),
    arbitrageur_1 waits; the LP re-centres its narrowest range every third block; the trader buys $5k."""
    actions = {a: 0 for a in env.agents}
    actions |= {"arbitrageur_0": 1, "liquidity_provider_0": int(block % 3 == 0), "trader_0": 2}
    return actions


def _play(backend: str, blocks: int, seed: int = 7) -> np.ndarray:
    """(blocks, 3): each block's LVR, arbitrage profit and fees, as every agent's info reports them."""
    env = _market(backend, blocks, compete=1.0)
    env.reset(seed=seed)
    rows = []
    for block in range(blocks):
        infos = env.step(_actions(env, block))[4]
        reported = {tuple(info[k] for k in KEYS) for info in infos.values()}
        assert len(reported) == 1, "every agent's info carries the same market figures"
        rows.append(reported.pop())
    env.close()
    return np.array(rows)


def _assert_closes(lvr: np.ndarray, profit: np.ndarray, fees: np.ndarray) -> None:
    """LVR = profit + fees to rounding, block by block; fees and LVR never negative."""
    np.testing.assert_allclose(lvr, profit + fees, rtol=RTOL, atol=ATOL_USD)
    assert np.all(fees >= 0) and np.all(lvr >= -ATOL_USD)


@pytest.fixture(scope="module")
def numpy_blocks() -> np.ndarray:
    return _play("numpy", 24)


def test_lvr_equals_arbitrage_profit_plus_fees_every_block_on_the_simulator(numpy_blocks):
    lvr, profit, fees = numpy_blocks.T
    _assert_closes(lvr, profit, fees)
    assert lvr.sum() > 1_000 and np.sum(lvr > 10) >= 5, "the figures are material, so the identity can fail"
    assert np.all(lvr > fees - ATOL_USD), "an arbitrage that pays the fee makes a profit"


def test_lvr_equals_arbitrage_profit_plus_fees_on_the_real_contracts_as_on_the_simulator(numpy_blocks):
    evm = _play("evm", 8)
    lvr, profit, fees = evm.T
    _assert_closes(lvr, profit, fees)
    assert lvr.sum() > 1_000
    np.testing.assert_allclose(evm, numpy_blocks[:8], rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_accounts_are_per_market_in_a_vector_env_and_match_the_agents_profits(backend):
    """Without the scripted arbitrageur, the block's arbitrage profit is the arbitrageur agents' own."""
    env = defi_market_v0.vector_env(num_markets=4, backend=backend, horizon=12, driver_kwargs=VOLATILE)
    env.reset(seed=3)
    total = np.zeros(4)
    for block in range(12):
        actions = {a: np.zeros(4, np.int64) for a in env.agents}
        actions |= {"arbitrageur_0": np.array([1, 2, 4, 0]), "arbitrageur_1": np.full(4, block % 2 * 4)}
        infos = env.step(actions)[4]
        lvr, profit, fees = (infos["liquidity_provider_0"][k] for k in KEYS)
        assert lvr.shape == profit.shape == fees.shape == (4,)
        _assert_closes(lvr, profit, fees)
        agents_profit = infos["arbitrageur_0"]["profit_usd"] + infos["arbitrageur_1"]["profit_usd"]
        np.testing.assert_allclose(profit, agents_profit, rtol=RTOL, atol=ATOL_USD)
        total += lvr
    assert np.all(total > 100), "every market's arbitrage paid LVR"
    env.close()


def test_a_block_without_arbitrage_reports_zeros():
    env = _market("numpy", 2)
    env.reset(seed=1)
    infos = env.step({a: 0 for a in env.agents})[4]
    assert all(infos["liquidity_provider_0"][k] == 0.0 for k in KEYS)
    env.close()


#: every swap of the block, by who swapped, and what the LPs took: they sum to the imbalance, zero to rounding
SWAP_KEYS = tuple(f"block_swaps_usd_{group}" for group in SWAP_GROUPS)
LP_KEYS = ("block_lp_fees_usd", "block_lp_reserves_usd")
#: every liquidation of the block: the liquidators' gain, the treasury's fee, the borrowers' change
LIQUIDATION_KEYS = ("block_liquidation_bonus_usd", "block_liquidation_protocol_fee_usd", "block_liquidated_usd")
ALL_KEYS = (*SWAP_KEYS, *LP_KEYS, *LIQUIDATION_KEYS, "block_imbalance_usd", "block_producer_usd")


def _accounts(backend: str, blocks: int, seed: int = 7, **kwargs) -> dict[str, np.ndarray]:
    """{key: (blocks,)} the block's swap accounts and the block producer's take, as the LP's info reports
    them, with the agents' gas and priority fees (their sum) alongside under ``agents_gas_usd``."""
    env = _market(backend, blocks, **({"compete": 1.0} | kwargs))
    env.reset(seed=seed)
    rows = []
    for block in range(blocks):
        infos = env.step(_actions(env, block))[4]
        row = {k: float(infos["liquidity_provider_0"][k]) for k in ALL_KEYS}
        rows.append(row | {"agents_gas_usd": sum(float(info["gas_usd"]) for info in infos.values())})
    env.close()
    return {k: np.array([row[k] for row in rows]) for k in rows[0]}


def _assert_zero_sum(accounts: dict[str, np.ndarray]) -> None:
    """Σ swappers' gains + Σ fees to the LPs + the LPs' reserve change + the liquidations' three sides = the
    reported imbalance = 0, per block."""
    total = sum(accounts[k] for k in (*SWAP_KEYS, *LP_KEYS, *LIQUIDATION_KEYS))
    scale = np.abs(accounts["block_lp_reserves_usd"])
    np.testing.assert_allclose(total, accounts["block_imbalance_usd"], atol=ATOL_USD)
    np.testing.assert_allclose(accounts["block_imbalance_usd"], 0.0, atol=ATOL_USD + RTOL * scale.max())


@pytest.fixture(scope="module")
def numpy_accounts() -> dict[str, np.ndarray]:
    return _accounts("numpy", 24)


def test_every_swap_of_the_block_is_attributed_and_the_sum_is_zero_on_the_simulator(numpy_accounts, numpy_blocks):
    """The flow, the arbitrage, the LP's rebalancing and the trader's swaps (from the market's traders' wallet) each
    move material value, so leaving any group out breaks the sum; the arbitrage keys are the arbitrage
    group's."""
    _assert_zero_sum(numpy_accounts)
    for group in ("arbitrage", "flow", "lp_rebalance", "trader"):
        swapped = numpy_accounts[f"block_swaps_usd_{group}"]
        assert np.abs(swapped).max() > 1_000 * ATOL_USD, (
            f"{group}'s swaps are material: the sum would fail without them"
        )
    np.testing.assert_array_equal(numpy_accounts["block_swaps_usd_arbitrage"], numpy_blocks[:, 1])
    assert np.all(numpy_accounts["block_lp_fees_usd"] >= numpy_blocks[:, 2])
    np.testing.assert_allclose(numpy_accounts["block_producer_usd"], numpy_accounts["agents_gas_usd"], rtol=1e-12)
    assert np.all(numpy_accounts["block_producer_usd"] > 0)


def test_the_sandwich_legs_and_their_victims_are_attributed_too():
    """With the scripted searcher sandwiching the flow, its legs are a group of their own; the sum stays zero,
    and the real contracts report the simulator's figures."""
    world = dict(flow="toy", noise_trade_usd=30_000.0, slippage_bps=50.0, sandwich_usd=2_000_000.0)
    accounts = _accounts("numpy", 8, world=world)
    _assert_zero_sum(accounts)
    assert accounts["block_swaps_usd_sandwich"].sum() > 1.0 and np.all(accounts["block_swaps_usd_flow"] <= 0)
    evm = _accounts("evm", 8, world=world)
    _assert_zero_sum(evm)
    for key in ALL_KEYS:
        np.testing.assert_allclose(evm[key], accounts[key], rtol=1e-6, atol=1e-3, err_msg=key)


def test_the_block_accounts_are_the_same_on_the_real_contracts(numpy_accounts):
    evm = _accounts("evm", 8)
    _assert_zero_sum(evm)
    for key in ALL_KEYS[:-2]:
        np.testing.assert_allclose(evm[key], numpy_accounts[key][:8], rtol=1e-6, atol=1e-3, err_msg=key)
    np.testing.assert_allclose(evm["block_producer_usd"], numpy_accounts["block_producer_usd"][:8], rtol=1e-9)


def test_the_block_accounts_close_per_market_on_torch_as_on_numpy():
    """Four markets stepped together, the LP re-centring every third block: each market's sum is zero to
    rounding, and torch reports numpy's figures."""
    reported = {}
    for backend in ("numpy", "torch"):
        env = defi_market_v0.vector_env(num_markets=4, backend=backend, horizon=12, driver_kwargs=VOLATILE)
        env.reset(seed=3)
        rows = []
        for block in range(12):
            actions = {a: np.zeros(4, np.int64) for a in env.agents}
            actions |= {
                "arbitrageur_0": np.array([1, 2, 4, 0]),
                "liquidity_provider_0": np.full(4, int(block % 3 == 0)),
            }
            info = env.step(actions)[4]["liquidity_provider_0"]
            rows.append(np.stack([info[k] for k in ALL_KEYS]))
        env.close()
        reported[backend] = np.stack(rows)  # (blocks, keys, markets)
        imbalance = reported[backend][:, ALL_KEYS.index("block_imbalance_usd")]
        np.testing.assert_allclose(imbalance, 0.0, atol=ATOL_USD)
        assert np.abs(reported[backend][:, ALL_KEYS.index("block_lp_reserves_usd")]).sum() > 10_000
    np.testing.assert_allclose(reported["torch"], reported["numpy"], rtol=1e-9, atol=1e-6)


def _crash(backend: str, blocks: int = 6, **kwargs) -> dict[str, np.ndarray]:
    """{key: (blocks,)} the block's accounts through a 20% crash (the oracle follows the reference) that
    takes six scripted borrowers at LTVs of 76-80% and the borrower agent, levered to 75% in the first
    block, below a health factor of 1: the liquidator agent takes the best account it is shown every block,
    then the scripted liquidator every one left. ``liquidated``: whether the agent liquidated."""
    env = defi_market_v0.parallel_env(
        backend=backend,
        horizon=blocks,
        n_liquidators=1,
        n_borrowers=1,
        driver=ScenarioDriver(crash(2000.0, drop=0.2, calm_steps=2, crash_steps=4).tolist(), dt=600.0),
        lending={"borrowers": 6, "target_ltv": (0.76, 0.80)},
        **kwargs,
    )
    env.reset(seed=2)
    rows = []
    for block in range(blocks):
        infos = env.step({a: 0 for a in env.agents} | {"liquidator_0": 1, "borrower_0": 5 if block == 0 else 0})[4]
        row = {k: float(infos["liquidity_provider_0"][k]) for k in (*ALL_KEYS, "block_liquidation_imbalance_usd")}
        rows.append(row | {"liquidated": float(infos["liquidator_0"]["liquidated"])})
    env.close()
    return {k: np.array([row[k] for row in rows]) for k in rows[0]}


def _assert_liquidations_close(accounts: dict[str, np.ndarray]) -> np.ndarray:
    """The liquidators' bonus + the treasury's fee + the borrowers' change = the reported liquidation
    imbalance = 0 per block, each side material and of its sign where a liquidation happened (so leaving any
    out breaks the sum by dollars), nothing where none did; the fee is Aave's share of the bonus part of
    the collateral seized (LiquidationLogic), so fee / liquidator's gain = fee share / (1 - fee share).
    Returns the blocks with liquidations."""
    bonus, fee, borrowers = (accounts[k] for k in LIQUIDATION_KEYS)
    scale = np.abs(borrowers).max()
    np.testing.assert_allclose(bonus + fee + borrowers, accounts["block_liquidation_imbalance_usd"], atol=ATOL_USD)
    np.testing.assert_allclose(accounts["block_liquidation_imbalance_usd"], 0.0, atol=ATOL_USD + RTOL * scale)
    _assert_zero_sum(accounts)
    happened = (bonus != 0) | (fee != 0) | (borrowers != 0)
    assert happened.sum() >= 2 and np.all(happened[accounts["liquidated"] > 0])
    assert np.all(bonus[happened] > 100) and np.all(fee[happened] > 10) and np.all(borrowers[happened] < -100)
    assert np.all(bonus[~happened] == 0) and np.all(fee[~happened] == 0) and np.all(borrowers[~happened] == 0)
    share = aave_reserve_params()["WETH"].liquidation_protocol_fee / 1e4
    np.testing.assert_allclose(fee[happened] / bonus[happened], share / (1 - share), rtol=1e-6)
    return happened


@pytest.fixture(scope="module")
def numpy_crash() -> dict[str, np.ndarray]:
    return _crash("numpy")


def test_the_liquidations_close_on_the_simulator(numpy_crash):
    happened = _assert_liquidations_close(numpy_crash)
    assert np.abs(numpy_crash["block_swaps_usd_liquidation"][happened]).min() > 100, "the seized WETH was sold"


def test_the_scripted_liquidators_liquidations_are_accounted_too(numpy_crash):
    """Without the scripted liquidator the agent liquidates one account a block: in the crash's first block of
    liquidations, where the scripted one takes every other account too, the accounts hold less."""
    alone = _crash("numpy", scripted_liquidator=False)
    happened = _assert_liquidations_close(alone)
    first = np.flatnonzero(happened)[0]
    assert first == np.flatnonzero(numpy_crash["block_liquidation_bonus_usd"])[0]
    assert alone["block_liquidation_bonus_usd"][first] < numpy_crash["block_liquidation_bonus_usd"][first] - 1_000


def test_the_liquidations_close_on_torch_as_on_numpy(numpy_crash):
    torch = _crash("torch")
    _assert_liquidations_close(torch)
    for key in (*LIQUIDATION_KEYS, "liquidated"):
        np.testing.assert_allclose(torch[key], numpy_crash[key], rtol=1e-9, atol=1e-6, err_msg=key)


def test_the_liquidations_close_on_the_real_contracts_as_on_the_simulator(numpy_crash):
    """The real Pool's liquidationCall, read off the borrower's aToken and debt balances, the liquidator's
    wallet and the treasury's aTokens, gives the simulator's figures."""
    evm = _crash("evm")
    _assert_liquidations_close(evm)
    for key in (*LIQUIDATION_KEYS, "block_swaps_usd_liquidation", "liquidated"):
        np.testing.assert_allclose(evm[key], numpy_crash[key], rtol=1e-6, atol=1e-3, err_msg=key)
