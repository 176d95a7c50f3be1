"""defi_market_v0's block accounting closes: per block, the LPs' LVR on the arbitrage swaps (read off the
pool's liquidity curve) equals the arbitrageurs' profit before gas (read off what they paid and got) plus
the fees they paid (the input at the pool's fee rate), all at the block's reference price: on the
simulator, on the real contracts, and over a batch of markets."""

from __future__ import annotations

import numpy as np
import pytest

from envs import defi_market_v0

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
