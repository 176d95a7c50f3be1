"""A new protocol as one folder, one component and one spec: Morpho Blue's lending pool plugs into the lending
world the Aave envs use. defigym/MorphoBlueLeverage-v0 runs the same trajectory on the simulator and on the
contract compiled from the package's sources, its liquidations seize what Morpho's incentive factor says, and
the liquidator role works on it unchanged."""

from __future__ import annotations

import json
from dataclasses import fields

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from agents.baselines import HealthFactorKeeper, TargetLTVBorrower
from envs.arrays import array_backend
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import MarketSpec, build_market
from envs.drivers import ScenarioDriver, crash
from envs.evm.revm import PyrevmChain
from envs.morpho_blue_leverage import MorphoBlueLeverageVectorEnv
from envs.protocols.morpho_blue import errors
from envs.units import WAD
from envs.worlds.chain_lending import one_moment_a_step
from envs.worlds.lending import LendingParams
from envs.worlds.lending_pool import Position
from envs.worlds.market import WBTC_PRICE_USD
from envs.worlds.morpho_blue_market import ChainMorphoBlueMarket, SimMorphoBlueMarket, deploy_market
from tests.protocol_rules import liquidation_incentive_factor
from tests.test_env_aave import _leverage, _liquidator

MORPHO = "defigym/MorphoBlueLeverage-v0"
LENDING = {"protocol": "morpho_blue", "calibration": "none"}
CRASH = crash(2000.0, drop=0.25)
ONE = np.ones(1, bool)


def test_the_simulator_and_the_compiled_contract_give_the_same_leverage_trajectory():
    sim, evm = _leverage("numpy", env_id=MORPHO), _leverage("evm", env_id=MORPHO)
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[:, 1].max() > 0.6 and sim[:, -3].sum() > 0  # it levered, and paid Morpho's gas for it
    assert np.allclose(sim[:, 2], 0.86)  # the market's LLTV is the liquidation threshold (float32 observation)


def test_the_liquidator_role_liquidates_a_morpho_market_the_same_on_both_sides():
    sim, evm = _liquidator("numpy", steps=24, lending=LENDING), _liquidator("evm", steps=24, lending=LENDING)
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[:, -2].sum() >= 1 and sim[:, -3].sum() > 0  # the crash made liquidations, at a profit


def test_a_crash_liquidates_the_levered_holder_at_morphos_incentive_and_spares_the_keeper():
    """No close factor: the liquidator repays all the debt at once, seizing collateral worth it times the
    incentive factor; the keeper deleverages in time and is never liquidated."""
    path = {"driver": ScenarioDriver(CRASH), "horizon": 30, "lending": {"borrowers": 2}}
    results = {}
    for name in ("static", "keeper"):
        vec = MorphoBlueLeverageVectorEnv(num_envs=1, **path)
        policy = (
            TargetLTVBorrower(vec.role, 0.75)
            if name == "static"
            else HealthFactorKeeper(vec.role, target=0.75, low=1.2, high=1.5)
        )
        obs, _ = vec.reset(seed=0)
        market, seized = vec.core.market, []
        liquidated = 0.0
        for _ in range(30):
            before = market.lending.position(0)
            obs, _, _, _, info = vec.step(policy.predict(obs)[0])
            after = market.lending.position(0)
            if info["liquidated"][0]:
                seized.append((before, after, market.lending.oracle_price()[0]))
            liquidated += info["liquidated"][0]
        results[name] = (liquidated, info["equity_usd"][0])
        if name == "static":
            assert seized, "the levered holder was never liquidated"
            before, after, price = seized[0]
            repaid_usd = (before.debt_usdc - after.debt_usdc)[0] / 1e6
            seized_usd = (before.collateral_weth - after.collateral_weth)[0] / 1e18 * price
            lif = liquidation_incentive_factor(86 * WAD // 100) / WAD
            assert seized_usd == pytest.approx(repaid_usd * lif, rel=2e-3)  # interest of the step aside
            assert after.debt_usdc[0] == 0 and after.collateral_weth[0] > 0  # all the debt, some collateral left
    assert results["static"][0] == 1 and results["keeper"][0] == 0


def test_numpy_and_torch_step_the_same_morpho_worlds():
    rewards = {}
    for backend in ("numpy", "torch"):
        vec = MorphoBlueLeverageVectorEnv(
            num_envs=8, horizon=30, backend=backend, driver=ScenarioDriver(CRASH), lending={"borrowers": 3}
        )
        vec.reset(seed=1)
        actions = [4, 0, 0, 2, 0, 5, 1]
        rewards[backend] = np.array([vec.step(np.full(8, actions[t % 7]))[1] for t in range(29)])
    np.testing.assert_allclose(rewards["torch"], rewards["numpy"], rtol=1e-9, atol=1e-6)
    assert np.abs(rewards["numpy"]).sum() > 0


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        (MORPHO, {"lending": {"protocol": "aave_v3"}}, "use defigym/AaveLeverage-v0"),
        (MORPHO, {"lending": {"calibration": "aave_v3_ethereum"}}, "lending.calibration=none"),
        (MORPHO, {"lending": {"lltv": 1.2}}, "lltv"),
        ("defigym/AaveLeverage-v0", {"lending": {"protocol": "compound"}}, "unknown lending protocol"),
    ],
)
def test_bad_lending_options_are_clear_errors(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)


def test_a_morpho_market_is_not_attached_to_a_forks_own():
    from omegaconf import OmegaConf

    from agents.config import BackendConfig, check_backend

    b = OmegaConf.structured(BackendConfig(name="anvil", market="attach", fork_url="http://x:1", addresses="ethereum"))
    with pytest.raises(ValueError, match=f"not {MORPHO}"):
        check_backend(b, MORPHO)


# --- the component itself, both sides through LendingPool alone -------------------------------------------
PRICE, SUPPLY_USD = 2_000.0, 5_000_000.0
BORROWER, LIQUIDATOR = DEV_ACCOUNTS[3], DEV_ACCOUNTS[6]


@pytest.fixture(scope="module")
def pools():
    sim = SimMorphoBlueMarket(1, 0.86, SUPPLY_USD, 3, array_backend("numpy"))
    sim.reset(np.array([PRICE]))
    chain = PyrevmChain()
    one_moment_a_step(chain)
    market = build_market(chain, MarketSpec(prices_usd={"USDC": 1.0, "WETH": PRICE, "WBTC": WBTC_PRICE_USD}))
    usdc = market.tokens["USDC"]
    usdc.mint(LIQUIDATOR, 10**12)

    def credit(token, who, raw):
        token.mint(who, raw)

    blue = deploy_market(market.tokens, PRICE, 0.86, SUPPLY_USD, [BORROWER, LIQUIDATOR], credit)
    yield sim, ChainMorphoBlueMarket(blue, BORROWER, lambda who: LIQUIDATOR, credit), chain
    chain.close()


def _both(pools, method: str, *args):
    sim, on_chain, _ = pools
    return getattr(sim, method)(*args), getattr(on_chain, method)(*args)


def _same(sim: Position, chain: Position) -> None:
    for f in fields(Position):
        a, b = getattr(sim, f.name), getattr(chain, f.name)
        assert np.allclose(a, b, rtol=1e-9, atol=0.0), f"{f.name}: simulator {a}, chain {b}"  # a raw unit in 1e9


def test_the_morpho_component_reads_and_acts_the_same_on_both_sides(pools):
    sim, on_chain, chain = pools
    weth = np.array([10 * 10**18], dtype=float)
    _both(pools, "fund_account", 1, weth, ONE)
    assert [int(c[0]) for c in _both(pools, "supply", 1, weth, ONE)] == [0, 0]
    limit = 10 * PRICE * 0.86 * 1e6
    codes = [int(c[0]) for c in _both(pools, "borrow", 1, np.array([limit + 1e6]), ONE)]
    assert codes == [errors.INSUFFICIENT_COLLATERAL] * 2  # past the LLTV: Morpho's error on both sides
    assert [int(c[0]) for c in _both(pools, "borrow", 1, np.array([limit - 500e6]), ONE)] == [0, 0]
    sim.advance(7 * 86_400.0)
    chain.advance_time(7 * 86_400)
    _same(*_both(pools, "position", 1))
    (cash_s, debt_s), (cash_c, debt_c) = _both(pools, "reserve_usage", "USDC")
    assert debt_s[0] > limit - 500e6 and np.allclose(debt_s, debt_c, rtol=1e-12) and np.allclose(cash_s, cash_c)

    _both(pools, "set_oracle_price", np.array([1_900.0]))
    assert sim.oracle_price()[0] == on_chain.oracle_price()[0] == 1_900.0
    assert sim.position(1).health_factor[0] < 1
    (repaid_s, seized_s, code_s), (repaid_c, seized_c, code_c) = _both(pools, "liquidation_call", "competitor", 1, ONE)
    assert code_s[0] == code_c[0] == 0
    assert np.allclose(repaid_s, repaid_c, rtol=1e-12) and np.allclose(seized_s, seized_c, rtol=1e-12)
    lif = liquidation_incentive_factor(86 * WAD // 100) / WAD
    assert seized_s[0] / 1e18 * 1_900.0 == pytest.approx(repaid_s[0] / 1e6 * lif, rel=1e-6)
    _same(*_both(pools, "position", 1))  # all the debt repaid: no collateral was short of it
    assert sim.position(1).debt_usdc[0] == 0 and sim.position(1).collateral_weth[0] > 0
    (got_s, code_s), (got_c, code_c) = _both(pools, "withdraw", 1, np.array([np.inf]), ONE)
    assert code_s[0] == code_c[0] == 0 and got_s[0] > 0 and np.allclose(got_s, got_c, rtol=1e-12)
    assert int(_both(pools, "position", 1)[1].collateral_weth[0]) == 0


def test_the_morpho_market_has_no_crowd_and_the_live_side_funds_nobody(pools):
    sim, on_chain, _ = pools
    with pytest.raises(ValueError, match="no crowd"):
        sim.crowd_act(2, "supply", "WBTC", np.ones(1), ONE)
    live = ChainMorphoBlueMarket(on_chain.blue, BORROWER, lambda who: LIQUIDATOR)
    with pytest.raises(RuntimeError, match="funded by their owners"):
        live.fund_account(1, np.ones(1), ONE)
    assert LendingParams(**LENDING).calibrated() is None and 0 < sim.lltv / WAD < 1


def test_repaying_more_than_the_debt_repays_all_of_it_on_both_sides(pools):
    """As Aave's repay does, up to the debt: Morpho.repay by assets would burn more shares than the account holds."""
    weth = np.array([5 * 10**18], dtype=float)
    _both(pools, "fund_account", 2, weth, ONE)
    _both(pools, "supply", 2, weth, ONE)
    _both(pools, "borrow", 2, np.array([3_000e6]), ONE)
    owed = pools[0].position(2).debt_usdc
    (paid_s, code_s), (paid_c, code_c) = _both(pools, "repay", 2, owed + 1e6, ONE)
    assert code_s[0] == code_c[0] == 0 and paid_s[0] == pytest.approx(owed[0], abs=1) and np.allclose(paid_s, paid_c)
    assert pools[0].position(2).debt_usdc[0] == pools[1].position(2).debt_usdc[0] == 0


def test_bad_debt_is_the_lenders_loss_and_the_liquidation_accounts_still_close(pools):
    """Seizing all the collateral of a position worth less than its debt writes the rest off against the lenders
    (Morpho.liquidate's bad debt): the block's accounts carry it, so bonus + borrower + lenders sum to zero."""
    from envs.worlds.block_accounting import BlockAccounts

    sim, on_chain, _ = pools
    weth = np.array([10 * 10**18], dtype=float)
    _both(pools, "set_oracle_price", np.array([PRICE]))
    _both(pools, "fund_account", 3, weth, ONE)
    _both(pools, "supply", 3, weth, ONE)
    _both(pools, "borrow", 3, np.array([17_000e6]), ONE)
    _both(pools, "set_oracle_price", np.array([1_200.0]))  # collateral $12,000 against $17,000 owed
    for pool in (sim, on_chain):
        accounts = BlockAccounts(1, 3000)
        before = pool.lending_balances("competitor", 3)
        _, seized, code = pool.liquidation_call("competitor", 3, ONE)
        accounts.record_liquidation(before, pool.lending_balances("competitor", 3))
        info = accounts.info()
        assert code[0] == 0 and seized[0] == pytest.approx(1e19, rel=1e-12)  # all the collateral
        assert info["block_liquidation_bad_debt_usd"][0] < -4_000  # about $17,000 - $12,000 / LIF
        assert abs(info["block_liquidation_imbalance_usd"][0]) < 1e-3
        assert pool.position(3).debt_usdc[0] == 0


def test_going_flat_on_morpho_repays_everything():
    vec = MorphoBlueLeverageVectorEnv(num_envs=2, horizon=12, lending={"borrowers": 1})
    vec.reset(seed=0)
    for action in (5, 5, 1, 1, 1, 1):  # lever to 75%, then to 0
        _, _, _, _, info = vec.step(np.full(2, action))
    pos = vec.core.market.lending.position(0)
    assert (pos.debt_usdc == 0).all() and (pos.collateral_weth > 0).all() and (info["liquidated"] == 0).all()


@pytest.mark.parametrize(
    "lending, message",
    [
        ({"protocol": "morpho_blue", "calibration": "none", "lltv": 0.625}, "keep target_ltv below lltv"),
        ({"lltv": 0.77}, "leave lending.lltv out, or set lending.protocol=morpho_blue"),
    ],
)
def test_lending_settings_that_would_do_nothing_are_refused(lending, message):
    with pytest.raises(ValueError, match=message):
        LendingParams(**lending)


def test_the_live_adapter_refuses_a_borrower_trained_on_morpho(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.export import export
    from agents.live.adapter import _load_policy
    from agents.vec_env import SB3VecEnv

    env = VecNormalize(SB3VecEnv(MorphoBlueLeverageVectorEnv(num_envs=2, horizon=4)))
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16)
    model.learn(16)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    manifest = export(tmp_path / "model.zip", env_id=MORPHO)
    assert json.loads(manifest.read_text())["world"]["lending"] == "morpho_blue"  # the env's default, recorded
    with pytest.raises(ValueError, match="runs a borrower on Aave V3 only"):
        _load_policy(str(manifest))


def test_an_unknown_lending_key_fails_naming_the_keys_there_are():
    with pytest.raises(ValueError, match=r"unknown env.lending key\(s\) \['lltvv'\].*'lltv'"):
        gym.make(MORPHO, lending={"lltvv": 0.8})
