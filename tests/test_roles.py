"""Every role inherits ``Role`` and implements its four calls: its features name its observation
entry by entry in every env, ``feature_index`` finds each by name and refuses an unknown one, and the scripted
baselines read the features by name, so reordering a role's features does not change what they do."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import gymnasium as gym
import numpy as np
import pytest

import envs
import envs.roles
from agents.baselines import BASELINES, make_baseline
from envs import defi_market_v0
from envs.roles.liquidator import Liquidator
from envs.roles.role import Role


def role_classes() -> list[type]:
    """Every class defined in envs/roles that acts and scores (Role itself aside)."""
    found = []
    for module_info in pkgutil.iter_modules(envs.roles.__path__):
        module = importlib.import_module(f"envs.roles.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls is not Role and hasattr(cls, "act") and hasattr(cls, "score"):
                found.append(cls)
    return found


CONCRETE = [cls for cls in role_classes() if not inspect.isabstract(cls)]
#: a market with every role in it, each agent's world funded
EVERY_ROLE = dict(
    n_lps=1,
    n_arbitrageurs=1,
    n_liquidators=1,
    n_borrowers=1,
    n_traders=1,
    n_searchers=1,
    n_jit_providers=1,
    world=dict(flow="toy", slippage_bps=50.0, sandwich_usd=2_000_000.0, jit_usd=1_000_000.0),
)


def test_the_roles_are_found():
    names = {cls.__name__ for cls in CONCRETE}
    expected = {"Arbitrageur", "Borrower", "Liquidator", "LiquidityProvider", "Trader", "V2LiquidityProvider"}
    assert expected | {"SandwichSearcher", "JITProvider"} <= names


@pytest.mark.parametrize("cls", role_classes(), ids=lambda cls: cls.__name__)
def test_every_role_class_inherits_the_base(cls):
    assert issubclass(cls, Role)


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_every_role_takes_the_four_calls_as_role_declares_them(cls):
    role = cls()
    assert isinstance(role, Role)
    for name in ("reset", "act", "observe", "score"):
        wanted = list(inspect.signature(getattr(Role, name)).parameters.values())[1:]  # past self
        has = list(inspect.signature(getattr(role, name)).parameters.values())
        assert [p.name for p in has[: len(wanted)]] == [p.name for p in wanted], (cls.__name__, name)
        assert all(p.default is not inspect.Parameter.empty for p in has[len(wanted) :]), (cls.__name__, name)
    assert isinstance(role.action_space, gym.spaces.Space)


def every_agents_role() -> list[tuple[str, Role]]:
    """(label, role) of every env's agent: each Gymnasium env's one, and every agent of a market with all roles."""
    roles = []
    for env_id in sorted(i for i in envs.SPECS if i != "defi_market_v0"):
        env = gym.make(env_id).unwrapped
        roles.append((env_id, env.role))
        env.close()
    market = defi_market_v0.parallel_env(**EVERY_ROLE)
    roles += [(f"defi_market_v0/{agent}", market.role_of(agent)) for agent in market.possible_agents]
    return roles


def test_features_name_every_entry_of_every_agents_observation():
    roles = every_agents_role()
    assert len(roles) == len(envs.SPECS) - 1 + 7
    for label, role in roles:
        names = [f[0] for f in role.features]
        assert role.observation_space.shape == (len(role.features),), label
        assert len(set(names)) == len(names), label
        assert all(len(f) == 3 and all(isinstance(x, str) and x for x in f) for f in role.features), label


def test_feature_index_finds_each_name_and_refuses_an_unknown_one():
    for label, role in every_agents_role():
        for i, (name, _, _) in enumerate(role.features):
            assert role.feature_index(name) == i, label
        with pytest.raises(KeyError, match=rf"{type(role).__name__} observes no feature 'no_such_feature'"):
            role.feature_index("no_such_feature")


def test_the_liquidators_features_follow_its_slots():
    liquidator = Liquidator(slots=2)
    assert liquidator.observation_space.shape == (2 * 4 + 4,) and liquidator.action_space.n == 3
    assert make_baseline("greedy_liquidator", liquidator).gas == liquidator.feature_index("gas_usd") == 2 * 4 + 3
    with pytest.raises(KeyError, match="slot3_liquidatable"):
        liquidator.feature_index("slot3_liquidatable")


#: the baselines that decide from their role's observation (the others act regardless of it)
READING = [
    "passive_lp",
    "recentering_lp",
    "tau_reset_lp",
    "periodic_lp",
    "greedy_arbitrageur",
    "target_ltv_borrower",
    "hf_keeper",
    "greedy_liquidator",
    "passive_v2_lp",
    "hodl_v2",
]


def test_every_baseline_that_reads_the_observation_is_checked():
    assert set(READING) == set(BASELINES) - {"hodl", "noise_trader", "greedy_searcher", "always_jit"}


def reordered(role: Role, order: np.ndarray) -> Role:
    """The same role with its features in ``order`` (an observation's columns taken in that order)."""
    features = tuple(role.features[i] for i in order)
    cls = type(f"Reordered{type(role).__name__}", (type(role),), {"features": property(lambda self: features)})
    return cls(**{f.name: getattr(role, f.name) for f in dataclasses.fields(role)})


@pytest.mark.parametrize("name", READING)
def test_a_baseline_reads_features_by_name(name):
    """On a role whose features come in another order, given the same observations reordered alike, a
    baseline acts as it does on the role's own layout."""
    role = BASELINES[name].role()
    rng = np.random.default_rng(0)
    values = np.array([0.0, 0.25, 0.5, 0.9, 1.0, 1.1, 1.3, 2.0, 5.0, -0.5])  # flags, shares, health factors, gaps
    obs = rng.choice(values, size=(256, len(role.features))).astype(np.float32)
    order = rng.permutation(len(role.features))
    assert (order != np.arange(len(order))).any()
    own = make_baseline(name, role).predict(obs)[0]
    moved = make_baseline(name, reordered(role, order)).predict(obs[:, order])[0]
    assert len(set(own.tolist())) > 1, "the observations should make the baseline act and wait"
    np.testing.assert_array_equal(moved, own)
    for row in range(4):  # one observation at a time too
        assert make_baseline(name, reordered(role, order)).predict(obs[row, order])[0] == own[row]
