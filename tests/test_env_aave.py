"""defigym/AaveLeverage-v0 and defigym/AaveLiquidator-v0: the same trajectory on
the simulator and the real Aave and Uniswap contracts, liquidations as the protocol makes them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from agents.baselines import GreedyLiquidator, HealthFactorKeeper, TargetLTVBorrower
from envs.aave_leverage import AaveLeverageVectorEnv
from envs.aave_liquidator import AaveLiquidatorVectorEnv
from envs.drivers import ScenarioDriver, crash
from envs.roles.borrower import Borrower

LEVERAGE, LIQUIDATOR = "defigym/AaveLeverage-v0", "defigym/AaveLiquidator-v0"
CRASH = crash(2000.0, drop=0.25)  # calm hours, a 25% fall over five hours, then flat


def _leverage(backend: str, steps: int = 24, seed: int = 3, driver="gbm", driver_kwargs=None, env_id=LEVERAGE):
    """A health-factor keeper's episode: each step's observation, reward, gas, equity and liquidation."""
    env = gym.make(
        env_id, backend=backend, horizon=steps, driver=driver, driver_kwargs=driver_kwargs, lending={"borrowers": 3}
    )
    policy = HealthFactorKeeper(env.unwrapped.role, target=0.75, low=1.08, high=1.2)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(steps):
        obs, reward, _, _, info = env.step(int(policy.predict(obs)[0]))
        rows.append(np.concatenate([obs, [reward, info["gas_usd"], info["equity_usd"], info["liquidated"]]]))
    env.close()
    return np.array(rows)


def _liquidator(backend: str, steps: int = 30, seed: int = 0, compete: float = 0.3, lending: dict | None = None):
    """A greedy liquidator's episode through the crash: observation, reward, profit, liquidated, beaten."""
    env = gym.make(
        LIQUIDATOR,
        backend=backend,
        horizon=steps,
        compete=compete,
        driver=ScenarioDriver(CRASH),
        lending={"borrowers": 4} | (lending or {}),
    )
    policy = GreedyLiquidator(env.unwrapped.role)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(steps):
        obs, reward, _, _, info = env.step(int(policy.predict(obs)[0]))
        rows.append(np.concatenate([obs, [reward, info["profit_usd"], info["liquidated"], info["beaten"]]]))
    env.close()
    return np.array(rows)


def test_the_simulator_and_the_real_contracts_give_the_same_leverage_trajectory():
    sim, evm = _leverage("numpy"), _leverage("evm")
    # The chain's clock runs a few 12 s blocks ahead within a step: interest on those seconds is the gap.
    np.testing.assert_allclose(evm, sim, rtol=1e-6, atol=1e-4)
    assert sim[:, -3].sum() > 0 and sim[:, 1].max() > 0.6  # it levered, and paid gas for it


def test_the_simulator_and_the_real_contracts_give_the_same_liquidations():
    sim, evm = _liquidator("numpy"), _liquidator("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-6, atol=1e-4)
    assert sim[:, -2].sum() >= 2 and sim[:, -3].sum() > 0  # the crash made liquidations, at a profit


@pytest.mark.anvil
def test_short_episodes_run_on_anvil_and_match_the_simulator():
    rows = _leverage("anvil", steps=3)
    assert rows[-1, 1] > 0.3  # levered through the real contracts on a node
    np.testing.assert_allclose(rows, _leverage("numpy", steps=3), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(_liquidator("anvil", steps=12), _liquidator("numpy", steps=12), rtol=1e-6, atol=1e-4)


def test_reset_with_a_seed_restarts_the_same_episode():
    vec = AaveLiquidatorVectorEnv(num_envs=8, horizon=10)
    first, _ = vec.reset(seed=11)
    a = [vec.step(np.ones(8, int))[1] for _ in range(5)]
    again, _ = vec.reset(seed=11)
    b = [vec.step(np.ones(8, int))[1] for _ in range(5)]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(a, b)


def test_a_crash_liquidates_the_levered_holder_and_spares_the_keeper():
    """Through a 25% crash a position at 65% LTV left alone is liquidated (Aave's close factor, bonus
    and all); the keeper, starting alike, deleverages in time and keeps more of its equity."""
    path = {"driver": ScenarioDriver(CRASH), "horizon": 30, "lending": {"borrowers": 2}}
    results = {}
    for name in ("static", "keeper"):
        vec = AaveLeverageVectorEnv(num_envs=1, **path)
        role: Borrower = vec.role
        policy = (
            TargetLTVBorrower(role, 0.65)
            if name == "static"
            else HealthFactorKeeper(role, target=0.65, low=1.2, high=1.5)
        )
        obs, _ = vec.reset(seed=0)
        liquidated, equity = 0.0, None
        for _ in range(30):
            obs, _, _, _, info = vec.step(policy.predict(obs)[0])
            liquidated += info["liquidated"][0]
            equity = info["equity_usd"][0]
        results[name] = (liquidated, equity)
    assert results["static"][0] >= 1 and results["keeper"][0] == 0
    assert results["keeper"][1] > results["static"][1]


def test_a_beaten_liquidation_earns_nothing_and_still_pays_gas():
    vec = AaveLiquidatorVectorEnv(num_envs=4, horizon=30, compete=1.0, driver=ScenarioDriver(CRASH))
    obs, _ = vec.reset(seed=0)
    attempts = 0
    for _ in range(12):  # into the crash
        obs, reward, _, _, info = vec.step(np.ones(4, int))
        attempts += (info["gas_usd"] > 0).sum()
        assert (info["profit_usd"] == 0).all() and (reward == -info["gas_usd"]).all() and (info["beaten"] == 1).all()
    assert attempts > 0  # the agent did try, on accounts the competitor had already taken


@pytest.mark.parametrize(
    "env_id, action", [(LEVERAGE, np.nan), (LEVERAGE, 6), (LEVERAGE, -1), (LIQUIDATOR, 5), (LIQUIDATOR, 0.5)]
)
def test_bad_actions_are_clear_errors(env_id, action):
    env = gym.make(env_id, horizon=4, lending={"borrowers": 2})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(action)


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        (LEVERAGE, {"targets": (0.5, 0.9)}, "targets"),
        (LEVERAGE, {"agent_usd": -1}, "agent_usd"),
        (LEVERAGE, {"lending": {"target_ltv": (0.5, 1.2)}}, "target_ltv"),
        (LIQUIDATOR, {"compete": 2}, "compete"),
        (LIQUIDATOR, {"lending": {"borrowers": 0}}, "borrowers"),
        (LIQUIDATOR, {"backend": "jax"}, "unknown backend"),
    ],
)
def test_bad_options_are_clear_errors(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    "vector_env, action",
    [(AaveLeverageVectorEnv, [4, 0, 0, 2, 0, 5, 1]), (AaveLiquidatorVectorEnv, [1, 1, 2, 0, 1, 1, 1])],
)
def test_numpy_and_torch_step_the_same_worlds(vector_env, action):
    rewards = {}
    for backend in ("numpy", "torch"):
        vec = vector_env(
            num_envs=8, horizon=30, backend=backend, driver=ScenarioDriver(CRASH), lending={"borrowers": 3}
        )
        vec.reset(seed=1)
        rewards[backend] = np.array([vec.step(np.full(8, action[t % len(action)]))[1] for t in range(29)])
    np.testing.assert_allclose(rewards["torch"], rewards["numpy"], rtol=1e-9, atol=1e-6)
    assert np.abs(rewards["numpy"]).sum() > 0


def test_the_borrowers_evaluation_starts_from_its_accounts_health_factor():
    """The report's health-factor series starts at the supplied account's (no debt: capped at 1e3), so its
    minimum is the episode's lowest, not a placeholder 0."""
    from agents.policy import load_policy
    from agents.trading_evaluation import metrics, run_episodes

    env_id = "defigym/AaveLeverage-v0"
    lever = load_policy("baseline:target_ltv_borrower", Borrower())
    t = run_episodes(lever, env_id, {"horizon": 4}, "numpy", 2, 0)
    assert 1 < metrics(t, env_id)["min_health_factor"] < 1e3 and np.all(t["health_factor"][:, 0] == 1e3)
