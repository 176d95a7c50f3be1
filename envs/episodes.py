"""One episode loop for every single-role env (``Episodes``: N worlds of one role that end together,
the order of events in a block given by the env's ``Block``), and its Gymnasium faces: one world as an
``Env``, N worlds as a ``VectorEnv`` with SAME_STEP autoreset."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from envs.roles.role import Receipt, Role

HOURLY_GBM = {"dt": 3600.0, "sigma": 0.8}  # an ETH-like GBM in hourly steps: the envs' default driver


def check_episode(horizon: int, agent_usd: float | None = None, compete: float | None = None) -> None:
    """The options every env checks alike."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least one step, got {horizon}")
    if agent_usd is not None and agent_usd <= 0:
        raise ValueError(f"agent_usd must be positive, got {agent_usd}")
    if compete is not None and not 0 <= compete <= 1:
        raise ValueError(f"compete must be a probability in [0, 1], got {compete}")


#: the options that place one world on a chain: a vector env (the batched simulator) takes none of them
CHAIN_OPTIONS = frozenset({"fork_url", "fork_block", "addresses", "replay_blocks", "priority_fee_gwei"})


def check_vector_options(env_name: str, backend: str, unknown: dict) -> None:
    """A vector env takes only its own arguments, and runs on the batched simulator."""
    if unknown:
        raise TypeError(f"unknown arguments {sorted(unknown)} for {env_name}")
    if backend not in ("numpy", "torch"):
        raise ValueError(
            f"the vector env runs on the batched simulator (numpy or torch), not {backend!r}; "
            f"use the single env for evm and anvil"
        )


def driver_options(driver, driver_kwargs: dict | None, gbm: dict = HOURLY_GBM) -> dict | None:
    """The driver's arguments: as given, or ``gbm``'s when the driver is a GBM given none."""
    return driver_kwargs if driver_kwargs is not None else dict(gbm) if driver == "gbm" else None


class Block:
    """The order of events in one block around the agent's transactions. The default: the agent acts,
    then the market takes its step (arbitrage, noise, borrowers, the reference moves); an env whose
    block differs overrides ``run``, and ``start``/``open`` where its episodes start differently."""

    def __init__(self, agent_usd: float | None = None):
        self.agent_usd = agent_usd  # the LP agent's starting capital (None: a world without one)

    def start(self, market, rng: np.random.Generator) -> None:
        """The worlds at an episode's start, before the role reads them: the LP agent funded with ``agent_usd``,
        or, without one, only the scripted traders."""
        market.reset(rng, self.agent_usd)

    def open(self, market) -> bool:
        """After the role's reset: move the market before the first observation? (True: it moved)."""
        return False

    def run(self, market, role: Role, action, rng: np.random.Generator) -> Receipt:
        receipt = role.act(market, action)
        market.step()
        return receipt


class CompetedBlock(Block, ABC):
    """A block in which a scripted competitor goes for the agent's opportunity: its transactions land first with
    probability ``compete`` (``info["beaten"]``), else it takes what the agent left; then the rest of the block
    (``after``). The competitor and the rest are the env's."""

    def __init__(self, compete: float):
        super().__init__()
        self.compete = compete

    def run(self, market, role: Role, action, rng: np.random.Generator) -> Receipt:
        first = rng.random(market.n) < self.compete  # the competitor's transactions land first
        self.competitor(market, first)
        receipt = role.act(market, action)
        self.competitor(market, ~first)  # and it takes what the agent left
        self.after(market)
        receipt.info["beaten"] = first.astype(float)
        return receipt

    @abstractmethod
    def competitor(self, market, where: np.ndarray) -> None:
        """The scripted competitor's transactions, in the worlds of ``where``."""

    @abstractmethod
    def after(self, market) -> None:
        """The rest of the block, after the agent and the competitor."""


class Episodes:
    """N worlds of one role that end together, shared by the single and the vector env: the block runs
    the agent's transactions among the market's own, then the role observes and scores
    (``envs.roles.role``). Episodes truncate after ``horizon`` blocks; nothing terminates."""

    def __init__(self, market, role: Role, block: Block, horizon: int):
        self.market, self.role, self.block, self.horizon, self.n = market, role, block, horizon, market.n

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        self.rng, self.t = rng, 0
        self.block.start(self.market, rng)
        obs = self.role.reset(self.market, 0.0)
        if self.block.open(self.market):
            obs = self.role.observe(self.market, 0.0)
        return obs

    def step(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        receipt = self.block.run(self.market, self.role, action, self.rng)
        self.t += 1
        obs = self.role.observe(self.market, self.t / self.horizon)
        reward, info = self.role.score(self.market, receipt)
        truncated = np.full(self.n, self.t >= self.horizon)
        return obs, reward, np.zeros(self.n, bool), truncated, info


class SingleWorldEnv(gym.Env):
    """One world of an env, on any backend. Subclasses set ``episodes``, the env's factory
    ``(n, backend, **options) -> Episodes``: its arguments are the env's."""

    metadata = {"render_modes": []}
    episodes: Callable[..., Episodes]

    def __init__(self, backend: str = "numpy", **options: Any):
        self.core = type(self).episodes(1, backend, **options)
        self.role = self.core.role
        self.observation_space, self.action_space = self.role.observation_space, self.role.action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.core.reset(self.np_random)[0], {}

    def step(self, action):
        if action not in self.action_space:
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        obs, reward, terminated, truncated, info = self.core.step(np.asarray(action)[None])
        return (
            obs[0],
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {k: float(v[0]) for k, v in info.items()},
        )

    def close(self):
        if hasattr(self.core.market, "close"):
            self.core.market.close()


class BatchedVectorEnv(VectorEnv):
    """``num_envs`` worlds of an env on the batched simulator, from the same ``episodes`` factory as its
    single env (less the options that place one world on a chain). All worlds share the horizon, so they
    end together and reset in the same step; the last observation is in ``info["final_obs"]``."""

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}
    episodes: Callable[..., Episodes]

    def __init__(self, num_envs: int = 64, backend: str = "numpy", **options: Any):
        factory = type(self).episodes
        accepted = set(inspect.signature(factory).parameters) - CHAIN_OPTIONS
        check_vector_options(type(self).__name__, backend, {k: v for k, v in options.items() if k not in accepted})
        self.core, self.num_envs = factory(num_envs, backend, **options), num_envs
        self.role = self.core.role
        self.single_observation_space, self.single_action_space = self.role.observation_space, self.role.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._rng: np.random.Generator | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        return self.core.reset(self._rng), {}

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.core.step(actions)
        if truncated.any():
            info["final_obs"], info["_final_obs"] = obs, truncated.copy()
            obs = self.core.reset(self.core.rng)  # the generator the episodes were reset with
        return obs, reward.astype(np.float64), terminated, truncated, info
