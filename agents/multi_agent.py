"""One role of a PettingZoo ParallelEnv as a stable-baselines3 VecEnv: every agent of the role is a slot
of the vector, so one policy is trained for all of them (parameter sharing); the other agents act
by the policies given (scripted baselines or earlier checkpoints)."""
from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo import ParallelEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from envs.defi_market_v0 import agent_role


class RoleVecEnv(VecEnv):
    def __init__(self, env: ParallelEnv, role_prefix: str, others: dict[str, Any], seed: int | None = None):
        self.env, self.others, self._seed = env, others, seed
        self.slots = [a for a in env.possible_agents if a.startswith(role_prefix)]
        if not self.slots:
            raise ValueError(f"no agent of {env.possible_agents} starts with {role_prefix!r}")
        missing = [a for a in env.possible_agents if a not in self.slots and a not in others]
        if missing:
            raise ValueError(f"give a policy for every agent outside the role: missing {missing}")
        super().__init__(len(self.slots), env.observation_space(self.slots[0]), env.action_space(self.slots[0]))
        self._obs: dict[str, np.ndarray] = {}

    def reset(self):
        self._obs, _ = self.env.reset(seed=self._seed)
        self._seed = None if self._seed is None else self._seed + 1
        return np.stack([self._obs[a] for a in self.slots])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = {a: actions[i] for i, a in enumerate(self.slots)}
        for agent, policy in self.others.items():
            self._actions[agent] = policy.predict(self._obs[agent], deterministic=True)[0]

    def step_wait(self):
        obs, rewards, terminations, truncations, _ = self.env.step(self._actions)
        reward = np.array([rewards[a] for a in self.slots], dtype=np.float32)
        done = np.array([terminations[a] or truncations[a] for a in self.slots])
        infos: list[dict] = [{} for _ in self.slots]
        if done.all():
            for i, a in enumerate(self.slots):
                infos[i] = {"terminal_observation": obs[a], "TimeLimit.truncated": bool(truncations[a] and not terminations[a])}
            return self.reset(), reward, done, infos
        self._obs = obs
        return np.stack([obs[a] for a in self.slots]), reward, done, infos

    def close(self) -> None:
        self.env.close()

    def seed(self, seed=None):
        self._seed = seed
        return [seed]

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.env, attr_name)] * self.num_envs

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self.env, method_name)(*args, **kwargs)] * self.num_envs

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * self.num_envs


#: the policy an agent of each role plays unless the config names another
DEFAULT_OTHERS = {"liquidity_provider": "baseline:passive_lp", "arbitrageur": "baseline:greedy_arbitrageur",
                  "liquidator": "baseline:greedy_liquidator", "borrower": "baseline:hf_keeper",
                  "trader": "baseline:noise_trader"}


def other_policies(env: ParallelEnv, train_role: str, others: dict[str, str], device: str = "auto",
                   allow_missing_normalization: bool = False) -> dict[str, Any]:
    """The policies of every agent outside ``train_role``: ``others`` (agent -> baseline:<name> or a
    model.zip, e.g. an earlier checkpoint, refused without its normalization unless
    ``allow_missing_normalization``), else its role's default baseline."""
    from agents.policy import load_policy

    if train_role not in DEFAULT_OTHERS:
        raise ValueError(f"env.train_role={train_role!r} must be one of {sorted(DEFAULT_OTHERS)}")
    if not any(agent_role(a)[0] == train_role for a in env.possible_agents):
        raise ValueError(f"env.train_role={train_role!r}: the market has no such agent ({env.possible_agents}); "
                         f"raise env.n_{train_role}s")
    unknown = sorted(set(others) - set(env.possible_agents))
    if unknown:
        raise ValueError(f"env.others names {unknown}, not agents of the market {env.possible_agents}")
    return {a: load_policy(others.get(a, DEFAULT_OTHERS[agent_role(a)[0]]), env.role_of(a), device,
                           allow_missing_normalization)
            for a in env.possible_agents if agent_role(a)[0] != train_role}
