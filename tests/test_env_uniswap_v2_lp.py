"""defigym/UniswapV2LP-v0: the same trajectory on the simulator and the real pair,
and the V2 LP's impermanent loss as the constant-product formula gives it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from agents.baselines import HoldV2, V2ShareHolder
from envs.drivers import ScenarioDriver
from envs.uniswap_v2_lp import UniswapV2LPEnv, UniswapV2LPVectorEnv

ID = "defigym/UniswapV2LP-v0"


def _run(backend: str, steps: int = 30, seed: int = 1):
    env = gym.make(ID, backend=backend, horizon=steps)
    env.reset(seed=seed)
    script = [5] + [0] * 9 + [2] + [0] * 9 + [4] + [0] * steps
    rows = []
    for t in range(steps):
        obs, reward, _, _, info = env.step(script[t])
        rows.append(np.concatenate([obs, [reward, info["value_usd"], info["in_pair_usd"], info["gas_usd"]]]))
    env.close()
    return np.array(rows)


def test_the_simulator_and_the_real_pair_give_the_same_trajectory():
    sim, evm = _run("numpy"), _run("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[0, -2] > 0 and sim[12, 1] < 0.3 and (sim[:, -1] > 0).sum() == 3  # in, mostly out, half in


@pytest.mark.anvil
def test_a_short_episode_runs_on_anvil():
    rows = _run("anvil", steps=3)
    np.testing.assert_allclose(rows, _run("numpy", steps=3), rtol=1e-9, atol=1e-6)


def test_a_passive_v2_lp_suffers_the_constant_product_impermanent_loss():
    """ETH rises 50% with no noise flow: a position deposited at the start is worth 2 sqrt(r) / (1 + r)
    of holding its tokens (r = 1.5: 0.9798), up to the arbitrage fees it earned and the 0.3% band."""
    path = np.concatenate([np.full(2, 2000.0), np.linspace(2000.0, 3000.0, 11)[1:], np.full(10, 3000.0)])
    vec = UniswapV2LPVectorEnv(num_envs=1, horizon=21, driver=ScenarioDriver(path), world={"noise_traders": 0})
    obs, _ = vec.reset(seed=0)
    market = vec.core.market
    obs, *_ = vec.step(np.array([5]))  # all in at 2000
    deposited_usdc, deposited_weth = (x.copy() for x in market.agent_position())
    for _ in range(19):
        vec.step(np.array([0]))
    usdc, weth = market.agent_position()
    ref = market.reference_price()
    lp_value = usdc / 1e6 + weth / 1e18 * ref
    hold_value = deposited_usdc / 1e6 + deposited_weth / 1e18 * ref
    r = 1.5
    assert lp_value[0] / hold_value[0] == pytest.approx(2 * np.sqrt(r) / (1 + r), abs=0.001)
    assert lp_value[0] / hold_value[0] < 0.99  # a loss against holding, as the formula says


def test_the_passive_lp_and_hold_baselines_do_what_they_say():
    vec = UniswapV2LPVectorEnv(num_envs=8, horizon=25)
    for policy, share in ((V2ShareHolder(vec.role), 1.0), (HoldV2(vec.role), 0.0)):
        obs, _ = vec.reset(seed=3)
        for _ in range(24):
            obs, *_ = vec.step(policy.predict(obs)[0])
        np.testing.assert_allclose(obs[:, 1], share, atol=0.03)  # feature 1: share of the portfolio in the pair


@pytest.mark.parametrize("action", [np.nan, -1, 6, 2.5])
def test_bad_actions_are_clear_errors(action):
    env = gym.make(ID, horizon=4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(action)


def test_numpy_and_torch_step_the_same_worlds():
    trajectories = {}
    for backend in ("numpy", "torch"):
        vec = UniswapV2LPVectorEnv(num_envs=16, horizon=30, backend=backend)
        obs, _ = vec.reset(seed=2)
        rows = []
        for t in range(29):
            obs, reward, *_ = vec.step(np.full(16, [5, 0, 0, 3, 0][t % 5]))
            rows.append(reward)
        trajectories[backend] = np.array(rows)
    np.testing.assert_allclose(trajectories["torch"], trajectories["numpy"], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shares": (0.5, 1.5)}, "shares"),
        ({"backend": "jax"}, "backend"),
        ({"agent_usd": 0}, "agent_usd"),
        ({"world": {"pool_value_usd": -1}}, "pool_value_usd"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ID, **kwargs)


def _random_episode(backend: str, steps: int, seed: int, **kwargs) -> np.ndarray:
    """Observations and rewards of an episode of random actions."""
    env = UniswapV2LPEnv(backend=backend, horizon=steps, **kwargs)
    obs, _ = env.reset(seed=seed)
    rng, rows = np.random.default_rng(seed), []
    for _ in range(steps):
        obs, reward, *_ = env.step(int(rng.integers(0, env.action_space.n)))
        rows.append(np.r_[obs, reward])
    env.close()
    return np.array(rows)


@pytest.mark.parametrize(
    "seed, kwargs",
    [
        (0, {}),  # float64 wallets past 2**53 wei asked the router for a few hundred wei more than held
        (1, {}),
        (0, {"agent_usd": 100.0, "world": {"pool_value_usd": 5_000.0, "noise_trade_usd": 20_000.0}}),  # thin pair
        (
            3,
            {"agent_usd": 1e-5},
        ),  # too little to mint, burn or swap for anything: the contracts revert, the pair refuses
    ],
)
def test_random_episodes_spend_no_more_than_the_wallet_holds_on_both_backends(seed, kwargs):
    sim = _random_episode("numpy", 150 if not kwargs else 10, seed, **kwargs)
    evm = _random_episode("evm", len(sim), seed, **kwargs)  # reverted with TRANSFER_FROM_FAILED before
    assert np.isfinite(sim).all()  # the simulator's wallet went negative and the rewards to NaN before
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)


def _run_with_lending(backend: str, lending: dict | None, steps: int = 14):
    """The LP moving in and out of the pair through a 25% crash, with ``lending`` beside the pair: its rows, and the
    scripted borrowers' collateral at the start and the end (None without a lending market)."""
    from envs.drivers.scenario import crash

    driver = ScenarioDriver(crash(2000.0, drop=0.25, calm_steps=2, crash_steps=4, after_steps=steps))
    env = UniswapV2LPEnv(backend=backend, horizon=steps, driver=driver, lending=lending)
    env.reset(seed=2)
    market = env.core.market
    start = None if market.lending is None else market.lending.account_positions().collateral_weth[0, 1:]
    rows = []
    for t in range(steps):
        obs, reward, _, _, info = env.step([4, 0, 0, 0][t % 4])
        rows.append(np.concatenate([obs, [reward, info["value_usd"]]]))
    end = None if market.lending is None else market.lending.account_positions().collateral_weth[0, 1:]
    env.close()
    return np.array(rows), start, end


@pytest.mark.parametrize("protocol", ["aave_v3", "morpho_blue"])
def test_a_lending_market_beside_the_pair_plays_the_same_on_the_simulator_and_the_real_contracts(protocol):
    """env.lending runs a lending market beside the pair: through a crash its scripted liquidator sells the WETH it
    seizes into the pair the LP holds shares of. The LP's trajectory agrees on numpy and evm (to 1e-6, as the Aave
    envs': uncalibrated, the chain's blocks are 12 s apart), and differs from the pair's alone."""
    lending = {"protocol": protocol, "calibration": "none", "borrowers": 3, "borrower_usd": 2_000_000.0}
    sim, start, end = _run_with_lending("numpy", lending)
    evm, start_evm, end_evm = _run_with_lending("evm", lending)
    np.testing.assert_allclose(evm, sim, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(end_evm, end, rtol=1e-6)
    assert (end < start).any(), "the crash should have liquidated a scripted borrower"
    alone, _, _ = _run_with_lending("numpy", None)
    assert not np.allclose(alone[:, -1], sim[:, -1]), "the liquidations' sales should move the LP's value"


def test_env_lending_names_its_protocol_or_is_refused():
    from agents.config import env_kwargs, validate
    from tests.configs import config

    def market(*overrides):
        env = UniswapV2LPEnv(backend="numpy", **env_kwargs(config("env=uniswap_v2_lp", *overrides)))
        env.reset(seed=0)
        return env.core.market

    assert market().lending is None  # env.lending.protocol=none, the default: the pair alone
    assert market("env.lending.protocol=aave_v3").lending.params.protocol == "aave_v3"
    with pytest.raises(ValueError, match="env.lending.protocol is none: set env.lending.protocol=aave_v3"):
        validate(config("env=uniswap_v2_lp", "+env.lending.borrowers=3"))
    with pytest.raises(ValueError, match="env.lending.protocol is none: set env.lending.protocol=aave_v3"):
        validate(config("env=aave_leverage", "env.lending.protocol=none"))  # its lending keys name a market
