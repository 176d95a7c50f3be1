"""Several roles of ``defi_market_v0`` learning at once in the same markets (``env.train_roles``): each role
is its own stable-baselines3 learner (parameter sharing within the role) running its own loop in a
thread, and a ``MarketBarrier`` steps the markets once every learner has sent its actions, so each
learner sees the others adapt. The roles outside ``train_roles`` play their given policies."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
from omegaconf import OmegaConf
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from agents.learning_curves import write_learning_curves
from envs.defi_market_v0 import ParallelVectorEnv, agent_role, count_key


class MarketBarrier:
    """The markets, stepped once per block when every learning role has sent its actions (and reset once
    when every role asked). The thread that arrives last runs the step; the others wait for it."""

    def __init__(self, market: ParallelVectorEnv, roles: list[str], others: dict[str, Any], seed: int | None):
        self.market, self.others, self.seed = market, others, seed
        self.agents = {role: [a for a in market.possible_agents if agent_role(a)[0] == role] for role in roles}
        self._barrier = threading.Barrier(len(roles), action=self._run)
        self._actions: dict[str, np.ndarray] = {}
        self._resetting = False
        self.obs: dict[str, np.ndarray] = {}
        self.result: tuple = ()

    def abort(self) -> None:
        """Release every waiting learner (one of them failed): their waits raise BrokenBarrierError."""
        self._barrier.abort()

    def reset(self) -> dict[str, np.ndarray]:
        self._resetting = True
        self._barrier.wait()
        return self.obs

    def step(self, actions: dict[str, np.ndarray]) -> tuple:
        self._actions.update(actions)
        self._barrier.wait()
        return self.result

    def _run(self) -> None:
        if self._resetting:
            self.obs, _ = self.market.reset(seed=self.seed)
            self._resetting = False
            return
        actions = dict(self._actions)
        for agent, policy in self.others.items():
            actions[agent] = np.asarray(policy.predict(self.obs[agent], deterministic=True)[0])
        self.result = self.market.step(actions)
        self.obs = self.result[0]
        self._actions = {}


class LearnerVecEnv(VecEnv):
    """One learning role's agents in every market, as the slots of a VecEnv (agent-major, as
    ``agents.multi_agent.RoleVecEnv``), stepping through the shared ``MarketBarrier``."""

    def __init__(self, barrier: MarketBarrier, role: str):
        self.barrier, self.role_agents, self.markets = barrier, barrier.agents[role], barrier.market.num_markets
        self.slots = [(a, i) for a in self.role_agents for i in range(self.markets)]
        market = barrier.market
        super().__init__(
            len(self.slots), market.observation_space(self.role_agents[0]), market.action_space(self.role_agents[0])
        )

    def _stack(self, per_agent: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([per_agent[a] for a in self.role_agents])

    def reset(self):
        return self._stack(self.barrier.reset())

    def step_async(self, actions: np.ndarray) -> None:
        n = self.markets
        self._actions = {a: np.asarray(actions)[j * n : (j + 1) * n] for j, a in enumerate(self.role_agents)}

    def step_wait(self):
        obs, rewards, terminations, truncations, infos = self.barrier.step(self._actions)
        terminated, truncated = self._stack(terminations), self._stack(truncations)
        done = terminated | truncated
        slot_infos: list[dict] = [{} for _ in self.slots]
        if done.any():
            for k, (a, i) in enumerate(self.slots):
                if done[k]:
                    slot_infos[k] = {
                        "terminal_observation": infos[a].get("final_obs", obs[a])[i],
                        "TimeLimit.truncated": bool(truncated[k] and not terminated[k]),
                    }
        return self._stack(obs), self._stack(rewards).astype(np.float32), done, slot_infos

    def close(self) -> None:
        pass  # the markets are closed by their owner, once

    def seed(self, seed=None):
        return [seed]

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.barrier.market, attr_name)] * self.num_envs

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self.barrier.market, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self.barrier.market, method_name)(*args, **kwargs)] * self.num_envs

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * self.num_envs


def role_env_config(cfg, role: str) -> dict[str, Any]:
    """The env config a co-trained role's checkpoint records: the market as trained, with this role as the
    one learning, so evaluating or exporting it alone reads as a single-role run."""
    return cast(dict, OmegaConf.to_container(cfg.env, resolve=True)) | {"train_role": role, "train_roles": []}


def check_roles(roles: list[str], others: dict[str, str]) -> None:
    """env.train_roles: known roles, each once; env.others may not name a learning role's agents."""
    from agents.multi_agent import DEFAULT_OTHERS

    unknown = [r for r in roles if r not in DEFAULT_OTHERS]
    if unknown or len(set(roles)) != len(roles) or len(roles) < 2:
        raise ValueError(
            f"env.train_roles={roles} must list two or more of {sorted(DEFAULT_OTHERS)}, each once "
            f"(one role: env.train_role)"
        )
    clash = sorted(a for a in others if agent_role(a)[0] in roles)
    if clash:
        raise ValueError(f"env.others gives policies to {clash}, agents of the learning roles {roles}: drop them")


def co_train(cfg, run_dir: Path) -> dict[str, Path]:
    """Train ``env.train_roles`` together on ``train.num_envs`` markets; writes ``policies/<role>/model.zip``
    with its normalization and metadata, ``train_metrics.json`` and each role's learning curve
    (``learning_curves.png`` and ``.csv``); returns each role's checkpoint.

    Every learner runs the same number of rollouts (``agent.params.n_steps`` blocks each), enough for
    ``train.total_timesteps`` blocks x markets, so all of them reach each rollout's end together."""
    from agents.config import env_kwargs
    from agents.multi_agent import other_policies
    from agents.policy import algo_class, write_metadata
    from envs import defi_market_v0

    roles = list(cfg.env.train_roles)
    check_roles(roles, dict(cfg.env.others))
    if cfg.train.resume:
        raise ValueError(
            "train.resume continues one policy; co-training (env.train_roles) starts every role afresh: "
            "leave train.resume out, or give earlier checkpoints to roles outside train_roles via env.others"
        )
    if cfg.train.eval_freq > 0:
        print(
            "note: co-training validates nothing during training (train.eval_freq is not used); each role is "
            "evaluated against its baselines at the end (eval.*)",
            file=sys.stderr,
        )
    algo = algo_class(cfg.agent.algo)
    n_steps = int(cfg.agent.params.get("n_steps", 2048))
    device = None if cfg.device == "auto" else cfg.device
    market = defi_market_v0.vector_env(
        num_markets=cfg.train.num_envs, backend=cfg.backend.name, device=device, **env_kwargs(cfg, cfg.train.window)
    )
    for role in roles:
        if not any(agent_role(a)[0] == role for a in market.possible_agents):
            raise ValueError(
                f"env.train_roles: the market has no {role} ({market.possible_agents}); raise env.{count_key(role)}"
            )
    others = {
        a: p
        for a, p in other_policies(
            market, roles[0], dict(cfg.env.others), allow_missing_normalization=cfg.eval.allow_missing_normalization
        ).items()
        if agent_role(a)[0] not in roles
    }
    barrier = MarketBarrier(market, roles, others, cfg.seed)
    rollouts = max(1, math.ceil(cfg.train.total_timesteps / (n_steps * market.num_markets)))
    learners: dict[str, Any] = {}
    for role in roles:
        env: Any = VecMonitor(LearnerVecEnv(barrier, role))
        if cfg.train.normalize:
            env = VecNormalize(env, gamma=cfg.agent.params.get("gamma", 0.99))
        learners[role] = algo(
            cfg.agent.policy,
            env,
            seed=cfg.seed,
            device=cfg.device,
            verbose=0,
            tensorboard_log=str(run_dir / "tb" / role),
            **cfg.agent.params,
        )
    errors: dict[str, BaseException] = {}

    def learn(role: str) -> None:
        model = learners[role]
        try:
            model.learn(rollouts * n_steps * model.get_env().num_envs, tb_log_name=role)
        except BaseException as err:  # noqa: BLE001  (reported after the threads end)
            errors[role] = err
            barrier.abort()

    start = time.perf_counter()
    threads = [threading.Thread(target=learn, args=(role,), name=f"learn-{role}") for role in roles]
    for thread in threads:
        thread.start()
    interrupted = False
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:  # Ctrl-C: release the learners, keep what they learned
        interrupted = True
        barrier.abort()
        for thread in threads:
            thread.join()
    market.close()
    failed = {r: e for r, e in errors.items() if not isinstance(e, threading.BrokenBarrierError)}
    if failed and not interrupted:
        role, err = next(iter(failed.items()))
        raise RuntimeError(f"co-training stopped: the {role} learner failed: {err!r}") from err
    seconds = time.perf_counter() - start
    saved = {}
    for role, model in learners.items():
        path = run_dir / "policies" / role / "model.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        normalizer = model.get_vec_normalize_env()
        if normalizer is not None:
            normalizer.save(str(path.parent / "vecnormalize.pkl"))
        write_metadata(
            path,
            env_id=cfg.env.id,
            role=role,
            algo=cfg.agent.algo,
            env_config=role_env_config(cfg, role),
            normalize=normalizer is not None,
            timesteps=int(model.num_timesteps),
            config_file=run_dir / ".hydra" / "config.yaml",
        )
        saved[role] = path
    blocks = rollouts * n_steps
    summary = {
        "roles": {role: int(m.num_timesteps) for role, m in learners.items()},
        "blocks": blocks,
        "markets": market.num_markets,
        "seconds": round(seconds, 1),
        "market_steps_per_s": round(blocks * market.num_markets / seconds, 1),
    }
    (run_dir / "train_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    slots = {role: model.get_env().num_envs for role, model in learners.items()}
    curves = write_learning_curves(run_dir / "tb", slots, run_dir)
    if interrupted:
        print(f"interrupted: saved each role's policy so far under {run_dir / 'policies'}", file=sys.stderr)
        sys.exit(130)
    print(
        f"co-trained {', '.join(roles)} for {blocks} blocks of {market.num_markets} markets in {seconds:.1f} s: "
        f"{run_dir / 'policies'}; learning curves: {curves}",
        file=sys.stderr,
    )
    return saved
