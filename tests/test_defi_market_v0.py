"""defi_market_v0: PettingZoo conformance, the same play on the simulator and the real contracts, block order."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from envs import defi_market_v0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


EVERY_ROLE = dict(n_lps=2, n_arbitrageurs=2, n_liquidators=1, n_borrowers=1, n_traders=2)


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_pettingzoo_parallel_api_test_passes(backend):
    parallel_api_test(defi_market_v0.parallel_env(backend=backend, horizon=12, **EVERY_ROLE), num_cycles=15)


def test_pettingzoo_seed_and_aec_api_tests_pass():
    parallel_seed_test(lambda: defi_market_v0.parallel_env(horizon=20, **EVERY_ROLE))
    api_test(defi_market_v0.env(horizon=8, **EVERY_ROLE), num_cycles=10)


def _play(backend: str, steps: int = 25, **kwargs):
    env = defi_market_v0.parallel_env(backend=backend, horizon=steps, **kwargs)
    env.reset(seed=3)
    rows = []
    for t in range(steps):
        actions = {a: (4 if t == 0 else 0) if a == defi_market_v0.LP else 4 for a in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        rows.append([rewards[a] for a in env.possible_agents] + [infos[defi_market_v0.LP]["fees_usd"]])
    env.close()
    return np.array(rows)


def test_the_same_seed_and_actions_play_out_the_same_on_numpy_and_evm():
    sim, evm = _play("numpy"), _play("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[:, 1:3].sum() > 0  # the arbitrageurs made money


NO_LP = dict(n_lps=0, n_arbitrageurs=2)
#: the figures of a market without an LP agent compared across backends: the pool's swaps by who swapped, what the
#: scripted LPs took, and the imbalance
NO_LP_ACCOUNTS = (
    "block_swaps_usd_arbitrage",
    "block_swaps_usd_flow",
    "block_lp_fees_usd",
    "block_lp_reserves_usd",
    "block_imbalance_usd",
)


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_a_market_without_an_lp_agent_passes_the_parallel_api_test(backend):
    env = defi_market_v0.parallel_env(backend=backend, horizon=12, **NO_LP)
    assert env.possible_agents == ["arbitrageur_0", "arbitrageur_1", "liquidator_0"]
    parallel_api_test(env, num_cycles=15)


def _play_without_lp(backend: str, steps: int = 8) -> np.ndarray:
    """A market without an LP agent, its arbitrageurs taking the whole and half the gap: per block every agent's
    reward and the block's accounts (``NO_LP_ACCOUNTS``)."""
    env = defi_market_v0.parallel_env(backend=backend, horizon=steps, order="priority", **NO_LP)
    env.reset(seed=3)
    rows = []
    for _ in range(steps):
        _, rewards, _, _, infos = env.step({"arbitrageur_0": 4, "arbitrageur_1": 2, "liquidator_0": 0})
        accounts = infos["arbitrageur_0"]
        rows.append([rewards[a] for a in env.possible_agents] + [accounts[k] for k in NO_LP_ACCOUNTS])
    env.close()
    return np.array(rows)


def test_a_market_without_an_lp_agent_plays_the_same_on_numpy_and_evm_and_its_accounts_close():
    """No LP agent (n_lps=0): the pool is the scripted LPs' alone; the arbitrageurs' rewards and the block's
    accounts are the same on the contracts as on the simulator, and the accounts close (imbalance 0 to rounding)."""
    sim, evm = _play_without_lp("numpy"), _play_without_lp("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-6)
    assert sim[:, 0].sum() > 0  # the first arbitrageur made money
    accounts = sim[:, -len(NO_LP_ACCOUNTS) :]
    assert np.count_nonzero(accounts[:, NO_LP_ACCOUNTS.index("block_swaps_usd_arbitrage")] > 0) >= len(sim) // 2
    assert np.all(accounts[:, NO_LP_ACCOUNTS.index("block_lp_fees_usd")] > 0)
    np.testing.assert_allclose(accounts[:, -1], 0.0, atol=1e-4 + 1e-9 * np.abs(accounts).max())


def test_the_config_takes_a_market_without_an_lp_agent():
    """env.n_lps=0 passes the config's checks and builds a market of the other agents."""
    from agents.config import check, env_kwargs
    from tests.configs import config

    cfg = config("env=defi_market", "env.n_lps=0")
    check(cfg)
    env = defi_market_v0.parallel_env(**(env_kwargs(cfg, [0.0, 0.7]) | {"horizon": 2}))
    assert not [a for a in env.possible_agents if a.startswith(defi_market_v0.LP_ROLE)]
    env.reset(seed=0)
    env.close()


def _play_every_role(backend: str, steps: int = 20):
    """Every role in one block, each agent playing a fixed script, on a backend."""
    env = defi_market_v0.parallel_env(backend=backend, horizon=steps, order="random", **EVERY_ROLE)
    env.reset(seed=5)
    script = {
        defi_market_v0.LP: [3] + [0] * steps,
        "liquidity_provider_1": [0, 8] + [0, 0, 2] * steps,
        "arbitrageur_0": [4] * steps,
        "arbitrageur_1": [2] * steps,
        "liquidator_0": [1] * steps,
        "borrower_0": [4, 0, 0, 2] * steps,
        "trader_0": [1, 3, 0, 2] * steps,
        "trader_1": [4, 0] * steps,
    }
    rows = []
    for t in range(steps):
        _, rewards, _, _, infos = env.step({a: script[a][t] for a in env.agents})
        rows.append([rewards[a] for a in env.possible_agents] + [infos["borrower_0"]["equity_usd"]])
    env.close()
    return np.array(rows)


def test_every_role_plays_out_the_same_on_numpy_and_evm():
    sim, evm = _play_every_role("numpy"), _play_every_role("evm")
    # The chain's blocks land 12 s apart within a step, so its Aave interest runs a few blocks ahead of the
    # simulator's step clock: a few tenths of a cent a step on the borrower's $100,000.
    np.testing.assert_allclose(evm, sim, rtol=1e-6, atol=0.05)
    assert (sim[:, -1] > 0).all() and np.abs(sim[:, 6:8]).sum() > 0  # the borrower holds equity; traders traded


def test_lps_in_one_pool_share_its_fees():
    """Two LPs opening the same width at the same time earn about the same fees (the second opens
    after the first's swap has moved the price a little), and each less than a lone LP with the same
    capital would: the flow's fees are split by liquidity."""
    fees = {}
    for n_lps in (1, 2):
        env = defi_market_v0.parallel_env(n_lps=n_lps, n_arbitrageurs=1, n_liquidators=0, horizon=60, order="priority")
        env.reset(seed=4)
        total = np.zeros(n_lps)
        for t in range(60):
            actions = {a: (3 if t == 0 else 0) if a.startswith("liquidity_provider") else 4 for a in env.agents}
            infos = env.step(actions)[4]
            total += [infos[f"liquidity_provider_{i}"]["fees_usd"] for i in range(n_lps)]
        fees[n_lps] = total
    assert fees[2][0] == pytest.approx(fees[2][1], rel=0.2) and fees[2].min() > 0
    assert fees[2][0] < fees[1][0] < 2 * fees[2][0]


def test_first_in_the_block_takes_the_opportunity():
    env = defi_market_v0.parallel_env(horizon=200, order="priority")
    env.reset(seed=0)
    profit = {a: 0.0 for a in env.possible_agents[1:]}
    for _ in range(200):
        _, _, _, _, infos = env.step({a: 0 if a == defi_market_v0.LP else 4 for a in env.agents})
        for a in profit:
            profit[a] += infos[a]["profit_usd"]
    assert profit["arbitrageur_0"] > 0 and profit["arbitrageur_1"] == 0


def test_the_highest_priority_fee_lands_first_and_pays_its_fee():
    fees = {"arbitrageur_0": 1.0, "arbitrageur_1": 5.0}
    env = defi_market_v0.parallel_env(horizon=100, order="priority", priority_fees_gwei=fees, n_liquidators=0)
    env.reset(seed=0)
    profit, gas = {a: 0.0 for a in fees}, {a: 0.0 for a in fees}
    for _ in range(100):
        _, _, _, _, infos = env.step({a: 0 if a == defi_market_v0.LP else 4 for a in env.agents})
        for a in fees:
            profit[a] += infos[a]["profit_usd"]
            gas[a] += infos[a]["gas_usd"]
            assert infos[a]["position_in_block"] == (1 if a == "arbitrageur_0" else 0)
    assert profit["arbitrageur_1"] > 0 and profit["arbitrageur_0"] == 0
    np.testing.assert_allclose(gas["arbitrageur_1"] / gas["arbitrageur_0"], (10 + 5) / (10 + 1), rtol=1e-9)


def _crash_play(liquidate: bool):
    """An arbitrageur (first in the block) and a liquidator through a 20% crash; no scripted competitors."""
    from agents.baselines import GreedyArbitrageur, GreedyLiquidator
    from envs.drivers import ScenarioDriver, crash

    env = defi_market_v0.parallel_env(
        n_arbitrageurs=1,
        n_liquidators=1,
        driver=ScenarioDriver(crash(2000.0, drop=0.2, calm_steps=4), dt=600.0),
        horizon=16,
        order="priority",
        priority_fees_gwei={"arbitrageur_0": 2.0},
        scripted_liquidator=False,
        world={"noise_traders": 0},
        lending={"borrowers": 6, "target_ltv": (0.76, 0.80)},
    )
    obs, _ = env.reset(seed=2)
    arbitrageur, liquidator, rows = (
        GreedyArbitrageur(env.role_of("arbitrageur_0")),
        GreedyLiquidator(env.role_of("liquidator_0")),
        [],
    )
    for _ in range(16):
        actions = {
            defi_market_v0.LP: 0,
            "arbitrageur_0": int(arbitrageur.predict(obs["arbitrageur_0"])[0]),
            "liquidator_0": int(liquidator.predict(obs["liquidator_0"])[0]) if liquidate else 0,
        }
        obs, _, _, _, infos = env.step(actions)
        arb, liq = infos["arbitrageur_0"], infos["liquidator_0"]
        rows.append(
            (
                arb["profit_usd"],
                arb["pool_move_pct"],
                liq["liquidated"],
                liq["pool_move_pct"],
                env.market.pool_price()[0],
            )
        )
    return np.array(rows, dtype=float)


def test_a_crash_cascades_through_liquidations_into_the_pool():
    """The reference drops; the oracle follows; borrowers fall below a health factor of 1; the
    liquidator seizes their WETH and sells it, pushing the pool down past where the arbitrageur left
    it, below even the next block's lower reference, so the next arbitrage buys it back up."""
    with_liquidations, without = _crash_play(True), _crash_play(False)
    _, arb_move, liquidated, liq_move, pool = with_liquidations.T
    assert not liquidated[:4].any() and liquidated.sum() >= 2  # nothing before the crash, several in it
    sales = np.flatnonzero(liquidated)
    assert (liq_move[sales] < 0).all()  # each sale pushed the pool down ...
    assert (arb_move[sales + 1] > 0).any()  # ... overshooting, so the next arbitrage buys back
    assert (pool[sales] < without[sales, 4]).all()  # the crash alone left the pool higher
    assert not without[:, 2].any() and (without[:, 3] == 0).all()


def test_arbitrageurs_swaps_pay_the_lps_fees():
    fees = {}
    for arb_action in (0, 4):
        env = defi_market_v0.parallel_env(horizon=100, world={"noise_traders": 0})
        env.reset(seed=1)
        total = 0.0
        for t in range(100):
            actions = {a: (3 if t == 0 else 0) if a == defi_market_v0.LP else arb_action for a in env.agents}
            total += env.step(actions)[4][defi_market_v0.LP]["fees_usd"]
        fees[arb_action] = total
    assert fees[0] == 0 and fees[4] > 0


def test_bad_options_and_missing_actions_are_clear_errors():
    with pytest.raises(ValueError, match="order"):
        defi_market_v0.parallel_env(order="gas_auction")
    env = defi_market_v0.parallel_env(horizon=4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="no action for"):
        env.step({defi_market_v0.LP: 0})


def test_every_trader_is_a_slot_of_one_vec_env_and_the_others_play_baselines():
    from stable_baselines3 import PPO

    from agents.multi_agent import RoleVecEnv, other_policies

    env = defi_market_v0.parallel_env(horizon=16, **EVERY_ROLE)
    vec = RoleVecEnv(env, "trader", other_policies(env, "trader", {}), seed=0)
    assert vec.num_envs == 2 and vec.observation_space.shape == (5,) and vec.action_space.n == 5
    model = PPO("MlpPolicy", vec, n_steps=16, batch_size=32, verbose=0, seed=0)
    model.learn(64)


def test_every_arbitrageur_is_a_slot_of_one_vec_env_trained_with_shared_parameters():
    from stable_baselines3 import PPO

    from agents.baselines import GreedyLiquidator, PassiveFullRange
    from agents.multi_agent import RoleVecEnv

    env = defi_market_v0.parallel_env(n_arbitrageurs=3, horizon=16)
    vec = RoleVecEnv(
        env,
        "arbitrageur",
        {
            defi_market_v0.LP: PassiveFullRange(env.role_of(defi_market_v0.LP)),
            "liquidator_0": GreedyLiquidator(env.role_of("liquidator_0")),
        },
        seed=0,
    )
    assert vec.num_envs == 3 and vec.observation_space.shape == (5,)
    obs = vec.reset()
    obs, rewards, dones, infos = vec.step(np.full(3, 4))
    assert obs.shape == (3, 5) and rewards.shape == (3,) and not dones.any()
    model = PPO("MlpPolicy", vec, n_steps=16, batch_size=48, verbose=0, seed=0)
    model.learn(96)  # one policy for the three arbitrageurs, through episode ends
    with pytest.raises(ValueError, match="missing \\['liquidity_provider_0', 'liquidator_0'\\]"):
        RoleVecEnv(env, "arbitrageur", {})


# --- many markets at once: vector_env ---------------------------------------------------------------


def _random_actions(env, n: int, steps: int, seed: int = 1) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{a: rng.integers(env.action_space(a).n, size=n) for a in env.possible_agents} for _ in range(steps)]


def _flat(obs, rewards, infos, agents, i=None) -> np.ndarray:
    """One market's observations, rewards and infos after a step, as one row (market ``i`` of a batch)."""
    pick = (lambda x: np.asarray(x)[i]) if i is not None else np.asarray
    return np.concatenate(
        [
            np.concatenate(
                [
                    pick(obs[a]).ravel(),
                    [pick(rewards[a])],
                    [pick(v) for k, v in sorted(infos[a].items()) if "final_obs" not in k],
                ]
            )
            for a in agents
        ]
    )


def test_a_batch_of_markets_plays_as_that_many_single_markets_with_their_seeds():
    """Three markets stepped together, each with its own seed, against three lone markets with those
    seeds and the same actions: every observation, reward and info agrees bit for bit (priority order,
    every role, the scripted competitor on), through the horizon's last step."""
    kwargs = dict(horizon=10, order="priority", compete=0.3, **EVERY_ROLE)
    seeds, steps = [3, 4, 5], 10
    vec = defi_market_v0.vector_env(num_markets=3, **kwargs)
    plan = _random_actions(vec, 3, steps)
    vec.reset(seed=seeds)
    batch = []
    for actions in plan:
        obs, rewards, _, truncations, infos = vec.step(actions)
        if truncations[defi_market_v0.LP].all():  # the last observations, before the autoreset
            obs = {a: infos[a]["final_obs"] for a in obs}
        batch.append(obs), batch.append(rewards), batch.append(infos)
    for i, seed in enumerate(seeds):
        env = defi_market_v0.parallel_env(**kwargs)
        env.reset(seed=seed)
        for t, actions in enumerate(plan):
            obs, rewards, _, _, infos = env.step({a: int(actions[a][i]) for a in env.agents})
            lone = _flat(obs, rewards, infos, env.possible_agents)
            batched = _flat(batch[3 * t], batch[3 * t + 1], batch[3 * t + 2], env.possible_agents, i)
            np.testing.assert_array_equal(batched, lone, err_msg=f"market {i}, step {t}")
        env.close()


def test_one_batched_market_is_the_parallel_env():
    """A batch of one with an int seed draws as parallel_env does, random block order included."""
    kwargs = dict(horizon=8, **EVERY_ROLE)
    vec, env = defi_market_v0.vector_env(num_markets=1, **kwargs), defi_market_v0.parallel_env(**kwargs)
    vec_obs, _ = vec.reset(seed=11)
    obs, _ = env.reset(seed=11)
    for actions in _random_actions(vec, 1, 7):
        vec_obs, vec_rewards, _, _, vec_infos = vec.step(actions)
        obs, rewards, _, _, infos = env.step({a: int(x[0]) for a, x in actions.items()})
        np.testing.assert_array_equal(
            _flat(vec_obs, vec_rewards, vec_infos, env.possible_agents, 0),
            _flat(obs, rewards, infos, env.possible_agents),
        )


def test_vector_env_shapes_and_autoreset_at_the_shared_horizon():
    n, horizon = 4, 3
    vec = defi_market_v0.vector_env(num_markets=n, horizon=horizon, n_traders=1)
    obs, infos = vec.reset(seed=0)
    assert set(obs) == set(vec.possible_agents) and set(infos) == set(vec.possible_agents)
    for a in vec.possible_agents:
        assert obs[a].shape == (n,) + vec.observation_space(a).shape and obs[a].dtype == np.float32
    elapsed = [f[0] for f in vec.role_of(defi_market_v0.LP).features].index("time_elapsed")
    for t, actions in enumerate(_random_actions(vec, n, horizon)):
        obs, rewards, terminations, truncations, infos = vec.step(actions)
        last = t == horizon - 1
        for a in vec.possible_agents:
            assert rewards[a].shape == terminations[a].shape == truncations[a].shape == (n,)
            assert not terminations[a].any() and (truncations[a] == last).all()
            assert all(np.shape(v) == (n,) for k, v in infos[a].items() if k != "final_obs")
            assert ("final_obs" in infos[a]) == last
        assert np.all(obs[defi_market_v0.LP][:, elapsed] == (0.0 if last else (t + 1) / horizon))
    assert np.all(infos[defi_market_v0.LP]["final_obs"][:, elapsed] == 1.0)  # the episode's end, before the reset
    obs, *_ = vec.step(_random_actions(vec, n, 1)[0])  # the next episode goes on
    assert np.all(obs[defi_market_v0.LP][:, elapsed] == 1 / horizon)


def test_torch_batch_plays_as_the_numpy_batch():
    runs = []
    for backend in ("numpy", "torch"):
        vec = defi_market_v0.vector_env(
            num_markets=3,
            backend=backend,
            device="cpu" if backend == "torch" else None,
            horizon=6,
            compete=0.5,
            **EVERY_ROLE,
        )
        vec.reset(seed=2)
        rows = []
        for actions in _random_actions(vec, 3, 5):
            obs, rewards, _, _, infos = vec.step(actions)
            rows += [_flat(obs, rewards, infos, vec.possible_agents, i) for i in range(3)]
        runs.append(np.stack(rows))
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-9, atol=1e-9)


def test_every_arbitrageur_of_every_market_is_a_slot_of_one_vec_env():
    from agents.multi_agent import RoleVecEnv, other_policies

    markets, horizon = 3, 4
    vec_market = defi_market_v0.vector_env(num_markets=markets, horizon=horizon)
    vec = RoleVecEnv(vec_market, "arbitrageur", other_policies(vec_market, "arbitrageur", {}), seed=0)
    assert vec.num_envs == 2 * markets and vec.slots[markets] == ("arbitrageur_1", 0)
    obs = vec.reset()
    assert obs.shape == (2 * markets, 5)
    for t in range(horizon):
        obs, rewards, dones, infos = vec.step(np.full(2 * markets, 4))
        assert obs.shape == (2 * markets, 5) and rewards.shape == dones.shape == (2 * markets,)
        assert dones.all() == (t == horizon - 1) and not (dones.any() and not dones.all())
    assert all(info["TimeLimit.truncated"] and info["terminal_observation"].shape == (5,) for info in infos)


def test_vector_env_refuses_the_chain_backends_and_a_wrong_number_of_seeds():
    with pytest.raises(ValueError, match="numpy or torch"):
        defi_market_v0.vector_env(num_markets=2, backend="evm")
    vec = defi_market_v0.vector_env(num_markets=2, horizon=2)
    with pytest.raises(ValueError, match="one seed per market"):
        vec.reset(seed=[1, 2, 3])
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="no action for"):
        vec.step({defi_market_v0.LP: np.zeros(2, int)})


def test_a_role_the_market_lacks_is_refused_naming_its_count_key():
    from agents.multi_agent import other_policies

    market = defi_market_v0.parallel_env(n_lps=0)
    with pytest.raises(ValueError, match=r"raise env\.n_lps\b"):
        other_policies(market, "liquidity_provider", {})
    market.close()


@pytest.mark.parametrize("backend", ["numpy", "evm"])
def test_a_trader_swaps_in_a_world_without_a_lending_side(backend):
    """The traders' wallet is the market's own: a trader needs a pool, not a lending pool beside it."""
    from envs.drivers import make_driver
    from envs.roles.trader import Trader
    from envs.worlds.make import make_market
    from envs.worlds.sim import V3WorldParams

    n = 2 if backend == "numpy" else 1
    world = make_market(backend, n, make_driver("gbm"), V3WorldParams(lps=0))
    world.reset(np.random.default_rng(0))
    assert world.lending is None
    trader = Trader(sizes_usd=(50_000.0,))
    trader.reset(world)
    before = world.pool_price()
    receipt = trader.act(world, np.array([1, 0])[:n])  # world 0 buys $50k of WETH, world 1 waits
    assert trader.weth[0] > 0 and trader.usdc[0] == pytest.approx(-50_000.0)
    assert world.pool_price()[0] > before[0] and receipt.gas_units[0] > 0
    if n == 2:
        assert trader.weth[1] == 0 and world.pool_price()[1] == before[1] and receipt.gas_units[1] == 0
    getattr(world, "close", lambda: None)()
