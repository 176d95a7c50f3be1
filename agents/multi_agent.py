"""One role of ``defi_market_v0`` as a stable-baselines3 VecEnv: every agent of the role in every market is
a slot of the vector, so one policy is trained for all of them (parameter sharing); the other agents act by
the policies given (scripted baselines or earlier checkpoints), one batched call per agent; with a league
(agents.league), some of them play a snapshot drawn afresh at every episode reset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pettingzoo import ParallelEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from envs.defi_market_v0 import ParallelVectorEnv, agent_role, count_key, parallel_env

if TYPE_CHECKING:
    from agents.league import League


class RoleVecEnv(VecEnv):
    """The agents of ``role_prefix`` across the markets of ``env`` (a ``ParallelVectorEnv`` of N markets,
    or one ``parallel_env``) as the slots of one VecEnv: slot ``j * N + i`` is the role's agent j in market
    i. The markets end together and reset in the same step (their generator goes on; ``seed`` seeds the
    first reset and each explicit ``reset`` after it with the next integer). A ``league`` replaces its
    agents' policies in ``others`` by fresh draws at every reset, explicit or at the horizon; ``seed``
    seeds its draws too."""

    def __init__(
        self,
        env: ParallelVectorEnv | ParallelEnv,
        role_prefix: str,
        others: dict[str, Any],
        seed: int | None = None,
        league: League | None = None,
    ):
        self.env = env.vector() if isinstance(env, parallel_env) else env
        if not isinstance(self.env, ParallelVectorEnv):
            raise TypeError(f"RoleVecEnv takes defi_market_v0's vector_env or parallel_env, not {type(env).__name__}")
        self.others, self._seed, self.markets, self.league = dict(others), seed, self.env.num_markets, league
        if league is not None:
            league.seed(seed)
        self.role_agents = [a for a in self.env.possible_agents if a.startswith(role_prefix)]
        if not self.role_agents:
            raise ValueError(f"no agent of {self.env.possible_agents} starts with {role_prefix!r}")
        missing = [a for a in self.env.possible_agents if a not in self.role_agents and a not in others]
        if missing:
            raise ValueError(f"give a policy for every agent outside the role: missing {missing}")
        #: the vector's slots, agent-major: (agent, market index)
        self.slots = [(a, i) for a in self.role_agents for i in range(self.markets)]
        super().__init__(
            len(self.slots), self.env.observation_space(self.role_agents[0]), self.env.action_space(self.role_agents[0])
        )
        self._obs: dict[str, np.ndarray] = {}

    def _stack(self, per_agent: dict[str, np.ndarray]) -> np.ndarray:
        """{agent: (N, ...)} -> (slots, ...), the role's agents one after another."""
        return np.concatenate([per_agent[a] for a in self.role_agents])

    def _draw_opponents(self) -> None:
        """A new episode: the league's agents play freshly drawn snapshots."""
        if self.league is not None:
            self.others |= self.league.draw()

    def reset(self):
        self._draw_opponents()
        self._obs, _ = self.env.reset(seed=self._seed)
        self._seed = None if self._seed is None else self._seed + 1
        return self._stack(self._obs)

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        n = self.markets
        self._actions = {a: actions[j * n : (j + 1) * n] for j, a in enumerate(self.role_agents)}
        for agent, policy in self.others.items():
            self._actions[agent] = np.asarray(policy.predict(self._obs[agent], deterministic=True)[0])

    def step_wait(self):
        obs, rewards, terminations, truncations, infos = self.env.step(self._actions)
        reward = self._stack(rewards).astype(np.float32)
        terminated, truncated = self._stack(terminations), self._stack(truncations)
        done = terminated | truncated
        slot_infos: list[dict] = [{} for _ in self.slots]
        if done.any():  # the markets reset together, in this step
            self._draw_opponents()
            final = {a: infos[a].get("final_obs", obs[a]) for a in self.role_agents}
            for k, (a, i) in enumerate(self.slots):
                if done[k]:
                    slot_infos[k] = {
                        "terminal_observation": final[a][i],
                        "TimeLimit.truncated": bool(truncated[k] and not terminated[k]),
                    }
        self._obs = obs
        return self._stack(obs), reward, done, slot_infos

    def close(self) -> None:
        self.env.close()

    def seed(self, seed=None):
        self._seed = seed
        if self.league is not None:
            self.league.seed(seed)
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
DEFAULT_OTHERS = {
    "liquidity_provider": "baseline:passive_lp",
    "arbitrageur": "baseline:greedy_arbitrageur",
    "liquidator": "baseline:greedy_liquidator",
    "borrower": "baseline:hf_keeper",
    "trader": "baseline:noise_trader",
    "searcher": "baseline:greedy_searcher",
    "jit_provider": "baseline:always_jit",
}


def other_policies(
    env: ParallelEnv | ParallelVectorEnv,
    train_role: str,
    others: dict[str, str],
    device: str = "auto",
    allow_missing_normalization: bool = False,
) -> dict[str, Any]:
    """The policies of every agent outside ``train_role``: ``others`` (agent -> baseline:<name> or a
    model.zip, e.g. an earlier checkpoint, refused without its normalization unless
    ``allow_missing_normalization``), else its role's default baseline."""
    from agents.policy import load_policy

    if train_role not in DEFAULT_OTHERS:
        raise ValueError(f"env.train_role={train_role!r} must be one of {sorted(DEFAULT_OTHERS)}")
    if not any(agent_role(a)[0] == train_role for a in env.possible_agents):
        raise ValueError(
            f"env.train_role={train_role!r}: the market has no such agent ({env.possible_agents}); "
            f"raise env.{count_key(train_role)}"
        )
    unknown = sorted(set(others) - set(env.possible_agents))
    if unknown:
        raise ValueError(f"env.others names {unknown}, not agents of the market {env.possible_agents}")
    return {
        a: load_policy(
            others.get(a, DEFAULT_OTHERS[agent_role(a)[0]]), env.role_of(a), device, allow_missing_normalization
        )
        for a in env.possible_agents
        if agent_role(a)[0] != train_role
    }
