"""Gymnasium faces for a batched episode core (``reset(rng)``, ``step(actions)`` over N worlds that end
together): one world as an ``Env``, N worlds as a ``VectorEnv`` with SAME_STEP autoreset."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

HOURLY_GBM = {"dt": 3600.0, "sigma": 0.8}  # an ETH-like GBM in hourly steps: the envs' default driver


def check_episode(horizon: int, agent_usd: float | None = None, compete: float | None = None) -> None:
    """The options every env checks alike."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least one step, got {horizon}")
    if agent_usd is not None and agent_usd <= 0:
        raise ValueError(f"agent_usd must be positive, got {agent_usd}")
    if compete is not None and not 0 <= compete <= 1:
        raise ValueError(f"compete must be a probability in [0, 1], got {compete}")


def check_vector_options(env_name: str, backend: str, unknown: dict) -> None:
    """A vector env takes only its own arguments, and runs on the batched simulator."""
    if unknown:
        raise TypeError(f"unknown arguments {sorted(unknown)} for {env_name}")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"the vector env runs on the batched simulator (numpy or torch), not {backend!r}; "
                         f"use the single env for evm and anvil")


def driver_options(driver, driver_kwargs: dict | None, gbm: dict = HOURLY_GBM) -> dict | None:
    """The driver's arguments: as given, or ``gbm``'s when the driver is a GBM given none."""
    return driver_kwargs if driver_kwargs is not None else dict(gbm) if driver == "gbm" else None


class SingleWorldEnv(gym.Env):
    """Subclasses set ``self.core`` (one world) and ``self.role``."""

    metadata = {"render_modes": []}

    def _bind(self, core, role) -> None:
        self.core, self.role = core, role
        self.observation_space, self.action_space = role.observation_space, role.action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.core.reset(self.np_random)[0], {}

    def step(self, action):
        if action not in self.action_space:
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        obs, reward, terminated, truncated, info = self.core.step(np.asarray(action)[None])
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), {k: float(v[0]) for k, v in info.items()}

    def close(self):
        if hasattr(self.core.market, "close"):
            self.core.market.close()


class BatchedVectorEnv(VectorEnv):
    """Subclasses call ``_bind`` with a core of ``num_envs`` worlds. All worlds share the horizon, so
    they end together and reset in the same step; the last observation is in ``info["final_obs"]``."""

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def _bind(self, core, role, num_envs: int) -> None:
        self.core, self.role, self.num_envs = core, role, num_envs
        self.single_observation_space, self.single_action_space = role.observation_space, role.action_space
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
            obs = self.core.reset(self._rng)
        return obs, reward.astype(np.float64), terminated, truncated, info
