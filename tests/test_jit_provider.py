"""The just-in-time LP agent in defi_market_v0 (envs.roles.jit_provider): it passes PettingZoo's API test, its
share scales the world's scripted JIT LP (0 earns nothing and leaves the market as without a JIT LP, 1 is the
scripted JIT LP, the fees grow with the share, its reward is net of its round trips' gas), its baseline and a
learner drive it, and the simulator and the contracts run the same blocks."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from envs import defi_market_v0

#: hourly blocks with the scripted arbitrageur after the agents; the JIT LP mints 60 ticks either side of the
#: price around every uninformed swap of $20k or more
WORLD = dict(flow="toy", noise_trade_usd=30_000.0, jit_usd=2_000_000.0, jit_min_swap_usd=20_000.0, jit_half_width=60)
MARKET = dict(world=WORLD, compete=1.0, order="priority", driver_kwargs={"dt": 3600.0, "sigma": 0.8})
JIT = "jit_provider_0"
MARKETS, BLOCKS = 8, 12


def jit_wallet(market) -> tuple[np.ndarray, np.ndarray]:
    """(MARKETS,) each: the world's JIT LP's USDC and WETH (its slot is the last)."""
    market.select_lp(market.params.slots - 1)
    usdc, weth = market.agent_wallet()
    market.select_lp(0)
    return usdc, weth


def blocks(share: int | None, world: dict = WORLD) -> dict[str, np.ndarray]:
    """``BLOCKS`` blocks of ``MARKETS`` markets, the arbitrageurs taking the whole trade and the JIT agent playing
    ``share`` (None: no agent, the world's scripted JIT LP): per block, (BLOCKS, MARKETS) each, the JIT LP's PnL
    at the block's reference price and its fees, every other agent's reward, and the agent's reward, profit and
    gas."""
    vec = defi_market_v0.vector_env(
        MARKETS, horizon=BLOCKS + 1, n_jit_providers=int(share is not None), **(MARKET | {"world": world})
    )
    vec.reset(seed=4)
    market, rows = vec.market, []
    for _ in range(BLOCKS):
        actions = {a: np.full(MARKETS, 4) for a in vec.agents} | {defi_market_v0.LP: np.zeros(MARKETS, int)}
        if share is not None:
            actions[JIT] = np.full(MARKETS, share)
        (usdc, weth), reference = jit_wallet(market), market.reference_price()
        _, rewards, _, _, infos = vec.step(actions)
        after = jit_wallet(market) if world["jit_usd"] > 0 else (usdc, weth)
        rows.append(
            {a: r for a, r in rewards.items() if a != JIT}
            | {"pnl": (after[0] - usdc) + (after[1] - weth) * reference, "fees": market.jit_fees_usd.copy()}
        )
        if share is not None:
            rows[-1] |= {"reward": rewards[JIT], "profit": infos[JIT]["profit_usd"], "gas": infos[JIT]["gas_usd"]}
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def test_pettingzoo_parallel_api_test_passes_with_a_jit_provider():
    env = defi_market_v0.parallel_env(horizon=12, n_jit_providers=1, n_traders=1, **MARKET)
    parallel_api_test(env, num_cycles=15)


def test_share_zero_earns_nothing_and_share_one_is_the_scripted_jit_lp():
    """Share 0: no fees, PnL or gas, and every other agent earns what it earns without a JIT LP; share 1: block
    for block the scripted JIT LP's PnL and fees on the same seed, and the same rewards for everyone else; the
    agent's reward is that PnL less the gas of its round trips, paid in the blocks where it earned fees."""
    nothing, without = blocks(0), blocks(None, WORLD | {"jit_usd": 0.0})
    others = [a for a in without if a not in ("pnl", "fees")]
    assert not nothing["reward"].any() and not nothing["fees"].any() and not nothing["gas"].any()
    assert all(np.array_equal(nothing[a], without[a]) for a in others)
    full, scripted = blocks(4), blocks(None)
    assert all(np.array_equal(full[a], scripted[a]) for a in others + ["pnl", "fees"])
    assert np.array_equal(full["profit"], scripted["pnl"]) and full["fees"].sum() > 1_000  # about $2,300
    assert np.array_equal(full["reward"], full["profit"] - full["gas"])
    assert np.array_equal(full["gas"] > 0, full["fees"] > 0) and (full["gas"] > 0).any()


def test_the_fees_grow_with_the_share():
    totals = [blocks(share)["fees"].sum() for share in (1, 2, 3, 4)]
    assert np.all(np.diff(totals) > 0) and totals[0] > 0, totals


def test_the_baseline_and_a_learner_drive_the_jit_provider():
    """The default policy of the role is the always-JIT baseline (all its capital); PPO trains on its slot."""
    from stable_baselines3 import PPO

    from agents.baselines import make_baseline
    from agents.multi_agent import DEFAULT_OTHERS, RoleVecEnv, other_policies

    env = defi_market_v0.parallel_env(horizon=16, n_jit_providers=1, **MARKET)
    assert DEFAULT_OTHERS["jit_provider"] == "baseline:always_jit"
    always = make_baseline("always_jit", env.role_of(JIT))
    assert np.array_equal(always.predict(np.zeros((3, 9), np.float32))[0], [4, 4, 4])
    vec = RoleVecEnv(env, "jit_provider", other_policies(env, "jit_provider", {}), seed=0)
    assert vec.num_envs == 1 and vec.observation_space.shape == (9,) and vec.action_space.n == 5
    PPO("MlpPolicy", vec, n_steps=16, batch_size=16, verbose=0, seed=0).learn(32)


def play(backend: str, blocks: int = 8) -> np.ndarray:
    """``blocks`` blocks of one market, the JIT LP cycling through its shares: every agent's reward (the JIT LP's
    net of its round trips' gas) and the JIT LP's fees, gas and wallet, one row per block."""
    env = defi_market_v0.parallel_env(backend=backend, horizon=blocks, n_jit_providers=1, **MARKET)
    env.reset(seed=7)
    rows = []
    for t in range(blocks):
        actions = {a: 4 for a in env.agents} | {defi_market_v0.LP: 3 if t == 0 else 0, JIT: (4, 2, 0, 3)[t % 4]}
        _, rewards, _, _, infos = env.step(actions)
        own = [infos[JIT][k] for k in ("fees_usd", "gas_usd", "wallet_usd")]
        rows.append([rewards[a] for a in env.possible_agents] + own)
    env.close()
    return np.array(rows)


def test_the_jit_provider_plays_the_same_on_numpy_and_evm():
    """The same fees and round trips, so the same gas, on the contracts as on the simulator."""
    sim, evm = play("numpy"), play("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=1e-2)
    assert sim[:, -3].sum() > 0 and np.array_equal(sim[:, -2] > 0, sim[:, -3] > 0)  # it earned fees, and paid


def test_the_vector_market_runs_with_a_jit_provider():
    vec = defi_market_v0.vector_env(num_markets=4, horizon=3, n_jit_providers=1, **MARKET)
    obs, _ = vec.reset(seed=0)
    assert obs[JIT].shape == (4, 9) and np.allclose(obs[JIT][:, 1:4], [[0.0, 0.0, 1.0]] * 4, atol=0.01)
    for _ in range(3):
        obs, rewards, _, truncations, infos = vec.step({a: np.full(4, 4) for a in vec.agents})
    assert rewards[JIT].shape == (4,) and truncations[JIT].all()
    assert np.array_equal(infos[JIT]["profit_usd"] - infos[JIT]["gas_usd"], rewards[JIT]) and "final_obs" in infos[JIT]
    assert np.array_equal(infos[JIT]["share"], np.ones(4))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(world={"flow": "toy"}), r"world\['jit_usd'\] > 0 \(env.jit_usd"),
        (dict(world=WORLD, n_jit_providers=2), "n_jit_providers must be 0 or 1"),
    ],
)
def test_a_jit_provider_without_its_world_is_a_clear_error(options: dict, match: str):
    with pytest.raises(ValueError, match=match):
        defi_market_v0.parallel_env(**({"n_jit_providers": 1} | options))


def test_the_jit_provider_is_a_config_key_of_the_market():
    """env.n_jit_providers reaches the env with the JIT LP's capital (a negative count's refusal is in
    tests/test_config_validation.py)."""
    from agents.config import check, env_kwargs
    from tests.configs import config

    cfg = config("env=defi_market", "env.n_jit_providers=1", "env.jit_usd=2000000", "env.horizon=4")
    check(cfg)
    kwargs = env_kwargs(cfg, [0.0, 0.7])
    assert kwargs["n_jit_providers"] == 1 and kwargs["world"]["jit_usd"] == 2e6
