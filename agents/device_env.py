"""Batched envs whose ``step`` takes and returns torch tensors on one device, for ``agents.ppo_device``.

The interface (``DeviceVecEnv``): ``reset(seed) -> obs`` and ``step(actions) -> (obs, reward, terminated,
truncated, final_obs)``, every tensor on ``device`` with a leading axis of ``num_envs``. Worlds reset
themselves in the step they end (Gymnasium's SAME_STEP autoreset): ``obs`` is the next episode's
first observation where an episode ended, and ``final_obs`` the observation it ended on, so a
truncated episode's value can be bootstrapped.

Two implementations:

- ``TorchCartPole``: CartPole-v1's dynamics, written in torch over a batch; nothing leaves the device.
  It is the yardstick of the benchmark (``benchmarks/train_fps.py``) and of the learning test.
- ``HostBoundaryEnv``: a defigym batched ``VectorEnv`` (e.g. ``UniswapV3LPVectorEnv`` on the torch
  simulator) behind the same interface. Its role builds the observation, reward and actions' effect
  in numpy (``envs/roles/``), and the world keeps the price path, wallets and order flow in numpy
  too, so each step crosses to the host anyway; this adapter keeps its own crossing to one copy
  each way: the actions down, and one packed array (observations, final observations, rewards,
  flags) up.
"""

from __future__ import annotations

import math
from typing import Protocol

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv

StepResult = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class DeviceVecEnv(Protocol):
    """``num_envs`` worlds stepped together, taking and returning tensors on ``device``."""

    num_envs: int
    device: torch.device
    single_observation_space: spaces.Box
    single_action_space: spaces.Space

    def reset(self, seed: int | None = None) -> torch.Tensor: ...

    def step(self, actions: torch.Tensor) -> StepResult: ...


class TorchCartPole:
    """CartPole-v1 (Barto, Sutton & Anderson 1983; Gymnasium's constants and Euler integration) over
    ``num_envs`` carts: +1 per step, ends when the pole leans past 12 degrees or the cart leaves
    +-2.4, truncated after 500 steps."""

    gravity, cart_mass, pole_mass, half_length, force, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_limit, x_limit, max_steps = 12 * 2 * math.pi / 360, 2.4, 500

    def __init__(self, num_envs: int, device: str | torch.device = "cpu"):
        self.num_envs, self.device = num_envs, torch.device(device)
        high = np.array([self.x_limit * 2, np.inf, self.theta_limit * 2, np.inf], dtype=np.float32)
        self.single_observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space: spaces.Discrete = spaces.Discrete(2)
        self.generator = torch.Generator(device=self.device)

    def _initial(self) -> torch.Tensor:
        u = torch.rand((self.num_envs, 4), generator=self.generator, device=self.device)
        return u * 0.1 - 0.05

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.generator.manual_seed(seed)
        self.state = self._initial()
        self.steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        return self.state.clone()

    def step(self, actions: torch.Tensor) -> StepResult:
        x, x_dot, theta, theta_dot = self.state.unbind(1)
        force = torch.where(actions == 1, self.force, -self.force)
        cos, sin = torch.cos(theta), torch.sin(theta)
        total_mass, pole_moment = self.cart_mass + self.pole_mass, self.pole_mass * self.half_length
        temp = (force + pole_moment * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_length * (4.0 / 3.0 - self.pole_mass * cos**2 / total_mass)
        )
        x_acc = temp - pole_moment * theta_acc * cos / total_mass
        final = torch.stack(
            [
                x + self.tau * x_dot,
                x_dot + self.tau * x_acc,
                theta + self.tau * theta_dot,
                theta_dot + self.tau * theta_acc,
            ],
            dim=1,
        )
        self.steps = self.steps + 1
        terminated = (final[:, 0].abs() > self.x_limit) | (final[:, 2].abs() > self.theta_limit)
        truncated = (self.steps >= self.max_steps) & ~terminated
        done = terminated | truncated
        self.state = torch.where(done[:, None], self._initial(), final)
        self.steps = torch.where(done, 0, self.steps)
        reward = torch.ones(self.num_envs, device=self.device)
        return self.state.clone(), reward, terminated, truncated, final


class HostBoundaryEnv:
    """A defigym batched ``VectorEnv`` (numpy or torch simulator) as a ``DeviceVecEnv`` on ``device``:
    one device-to-host copy of the actions and one host-to-device copy of the step's results."""

    def __init__(self, env: VectorEnv, device: str | torch.device):
        self.env, self.device, self.num_envs = env, torch.device(device), env.num_envs
        space = env.single_observation_space
        if not isinstance(space, spaces.Box):
            raise TypeError(f"HostBoundaryEnv packs flat observations; {type(env).__name__} observes {space}, no Box")
        self.single_observation_space: spaces.Box = space
        self.single_action_space = env.single_action_space
        self.n_obs = space.shape[0]

    def reset(self, seed: int | None = None) -> torch.Tensor:
        obs, _ = self.env.reset(seed=seed)
        return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)

    def step(self, actions: torch.Tensor) -> StepResult:
        obs, reward, terminated, truncated, info = self.env.step(actions.cpu().numpy())
        final = info["final_obs"] if "final_obs" in info else obs
        packed = np.concatenate([obs, final, np.stack([reward, terminated, truncated], axis=1)], axis=1)
        out = torch.as_tensor(packed.astype(np.float32), device=self.device)
        n = self.n_obs
        return out[:, :n], out[:, 2 * n], out[:, 2 * n + 1].bool(), out[:, 2 * n + 2].bool(), out[:, n : 2 * n]

    def close(self) -> None:
        self.env.close()


class SpacesOnly(gym.Env):
    """An env that only carries spaces: what stable-baselines3 needs to build a model or VecNormalize to save."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space):
        self.observation_space, self.action_space = observation_space, action_space
