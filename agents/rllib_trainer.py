"""Co-training ``defi_market_v0``'s roles with Ray RLlib's multi-agent PPO (``trainer=rllib``): one RLModule
per learning role, shared by the role's agents (policies mapped by role), its env runners spread over a Ray
cluster (``trainer.address``; none starts a local one). The roles outside ``env.train_roles`` play their
given policies inside the env, as in the stable-baselines3 co-training (``agents.co_training``), so both
trainers write the same ``policies/<role>/`` and the same evaluation follows."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from envs.defi_market_v0 import agent_role

MODULE_DIR = "rl_module"  # policies/<role>/rl_module: the role's RLModule, as RLlib saves it


def policy_of(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    """RLlib's policy mapping: an agent plays its role's module (``liquidator_1`` -> ``liquidator``)."""
    return agent_role(str(agent_id))[0]


def learning_env_class():
    """The MultiAgentEnv class, built on first use so that importing this module does not import ray."""
    from ray.rllib.env.multi_agent_env import MultiAgentEnv

    class LearningMarket(MultiAgentEnv):
        """One ``defi_market_v0`` market as RLlib sees it: only the learning roles' agents; every other agent
        acts inside ``step`` with its given policy. Rewards are scaled by ``reward_scale`` (USD -> the units
        the value function learns in). The horizon truncates an episode (the value bootstraps past it); an
        agent is terminated only if the market ends it. RLlib seeds the first reset (its seed plus the env
        runner's index); every later reset draws its seed from that one, so a run repeats."""

        def __init__(self, config: dict[str, Any]):
            super().__init__()
            from agents.multi_agent import other_policies
            from envs.defi_market_v0 import parallel_env

            roles = list(config["train_roles"])
            self.market = parallel_env(backend="numpy", **config["env_kwargs"])
            self.others = {
                a: p
                for a, p in other_policies(
                    self.market,
                    roles[0],
                    dict(config["others"]),
                    allow_missing_normalization=config["allow_missing_normalization"],
                ).items()
                if agent_role(a)[0] not in roles
            }
            self.scale = float(config["reward_scale"])
            self.possible_agents = [a for a in self.market.possible_agents if agent_role(a)[0] in roles]
            self.agents = list(self.possible_agents)
            self.observation_spaces = {a: self.market.observation_space(a) for a in self.possible_agents}
            self.action_spaces = {a: self.market.action_space(a) for a in self.possible_agents}
            self._obs: dict[str, np.ndarray] = {}
            self._seeds = np.random.default_rng()

        def reset(self, *, seed: int | None = None, options: dict | None = None):
            if seed is not None:
                self._seeds = np.random.default_rng(seed)
            else:  # RLlib's autoreset passes none: the next episode's seed follows from the first
                seed = int(self._seeds.integers(2**63))
            self._obs, infos = self.market.reset(seed=seed, options=options)
            self.agents = [a for a in self.possible_agents if a in self._obs]
            return {a: self._obs[str(a)] for a in self.agents}, {a: infos.get(a, {}) for a in self.agents}

        def step(self, action_dict: dict[Any, Any]):
            actions = {str(a): action for a, action in action_dict.items()}
            for agent, policy in self.others.items():
                if agent in self._obs:
                    actions[agent] = np.asarray(policy.predict(self._obs[agent], deterministic=True)[0])
            self._obs, rewards, terminated, truncated, infos = self.market.step(actions)
            mine = [str(a) for a in self.agents if a in rewards]
            self.agents = [a for a in mine if not (terminated[a] or truncated[a])]
            obs = {a: self._obs[a] for a in mine}
            scaled = {a: float(rewards[a]) * self.scale for a in mine}
            over = not self.market.agents
            all_terminated = over and all(terminated[a] for a in mine)
            ended = {a: True for a in mine if terminated[a]} | {"__all__": all_terminated}
            cut = {a: True for a in mine if truncated[a] and not terminated[a] and not over}
            cut["__all__"] = over and not all_terminated  # the horizon: no agent's per-agent done, so it bootstraps
            return obs, scaled, ended, cut, {a: {} for a in mine}

        def close(self) -> None:
            self.market.close()

    return LearningMarket


def algorithm_config(cfg, env_kwargs: dict, roles: list[str]):
    """RLlib's PPOConfig for the market: the module per role, sizes from ``trainer.*``."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    t = cfg.trainer
    return (
        PPOConfig()
        .environment(
            learning_env_class(),
            env_config={
                "env_kwargs": env_kwargs,
                "train_roles": roles,
                "others": dict(cfg.env.others),
                "reward_scale": t.reward_scale,
                "allow_missing_normalization": cfg.eval.allow_missing_normalization,
            },
        )
        .framework("torch")
        .env_runners(num_env_runners=t.num_env_runners, rollout_fragment_length="auto")
        .learners(num_learners=0)
        .multi_agent(policies=set(roles), policy_mapping_fn=policy_of, policies_to_train=roles)
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={role: RLModuleSpec(model_config={"fcnet_hiddens": list(t.hidden)}) for role in roles}
            )
        )
        .training(
            train_batch_size_per_learner=t.train_batch_size,
            minibatch_size=t.minibatch_size,
            num_epochs=t.num_epochs,
            lr=t.lr,
            gamma=t.gamma,
            lambda_=t.gae_lambda,
            clip_param=t.clip_range,
            # RLlib clips the squared value error at vf_clip_param, which zeroes its gradient beyond it: with
            # returns in the thousands (scaled USD) the value function would never learn. None: unclipped.
            vf_clip_param=float("inf") if t.vf_clip_param is None else t.vf_clip_param,
        )
        .debugging(seed=cfg.seed)
    )


def rllib_co_train(cfg, run_dir: Path) -> dict[str, Path]:
    """Train ``env.train_roles`` with RLlib PPO until ``train.total_timesteps`` blocks (env steps of one
    market, summed over the env runners); writes ``policies/<role>/rl_module`` with its metadata, the
    algorithm's checkpoint (``checkpoint/``), each role's mean episode reward per agent in USD to
    TensorBoard (``tb/<role>``) and ``learning_curves.png``/``.csv``, and ``train_metrics.json``; returns
    each role's module."""
    import ray
    from torch.utils.tensorboard import SummaryWriter

    from agents.co_training import check_roles, role_env_config
    from agents.config import env_kwargs
    from agents.learning_curves import EPISODE_REWARD, write_learning_curves
    from agents.policy import RLLIB_ALGO, write_metadata

    roles = list(cfg.env.train_roles)
    check_roles(roles, dict(cfg.env.others))
    if cfg.train.resume:
        raise ValueError("train.resume continues a stable-baselines3 model; trainer=rllib starts every role afresh")
    t = cfg.trainer
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if t.address:  # a running cluster, e.g. ray start --head on the head node, then trainer.address=auto
            ray.init(address=t.address, log_to_driver=False)
        else:
            ray.init(num_cpus=t.num_env_runners + 1, include_dashboard=False, log_to_driver=False)
    config = algorithm_config(cfg, env_kwargs(cfg, cfg.train.window), roles)
    probe = config.env(config.env_config)
    slots = {role: sum(agent_role(a)[0] == role for a in probe.possible_agents) for role in roles}
    probe.close()
    algo = config.build_algo()
    writers = {role: SummaryWriter(str(run_dir / "tb" / role)) for role in roles}
    steps, iterations, start = 0, 0, time.perf_counter()
    try:
        while steps < cfg.train.total_timesteps:
            result = algo.train()
            steps, iterations = int(result["env_runners"]["num_env_steps_sampled_lifetime"]), iterations + 1
            returns = result["env_runners"].get("module_episode_returns_mean", {})
            shown = []
            for role in roles:  # per agent and in USD, as SB3 logs a role's mean episode reward
                if role in returns:
                    per_agent = returns[role] / slots[role] / cfg.trainer.reward_scale
                    writers[role].add_scalar(EPISODE_REWARD, per_agent, steps * slots[role])
                    shown.append(f"{role} {per_agent:,.0f} USD")
            print(f"rllib: {steps}/{cfg.train.total_timesteps} blocks; " + ", ".join(shown), file=sys.stderr)
        seconds = time.perf_counter() - start
        algo.save_to_path(str(run_dir / "checkpoint"))
        saved = {}
        for role in roles:
            path = run_dir / "policies" / role / MODULE_DIR
            algo.get_module(role).save_to_path(str(path))
            write_metadata(
                path,
                env_id=cfg.env.id,
                role=role,
                algo=RLLIB_ALGO,
                env_config=role_env_config(cfg, role),
                normalize=False,
                timesteps=steps,
                config_file=run_dir / ".hydra" / "config.yaml",
            )
            saved[role] = path
    finally:
        algo.stop()
        for writer in writers.values():
            writer.close()
    summary = {"trainer": "rllib", "blocks": steps, "iterations": iterations, "seconds": round(seconds, 1)}
    (run_dir / "train_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    curves = write_learning_curves(run_dir / "tb", slots, run_dir)
    print(
        f"co-trained {', '.join(roles)} with RLlib for {steps} blocks in {seconds:.1f} s: {run_dir / 'policies'}; "
        f"learning curves: {curves}",
        file=sys.stderr,
    )
    return saved


class RLModulePolicy:
    """A role's RLModule saved by ``rllib_co_train`` behind the ``predict`` evaluate.py and the market's
    other agents call: the module's inference pass, its action distribution made deterministic; a Box action
    is mapped from the module's normalized [-1, 1] back to the space's bounds, as RLlib's env runner does."""

    def __init__(self, path: str | Path, role: Any):
        from ray.rllib.core.rl_module.rl_module import RLModule

        self.path = Path(path)
        if not self.path.is_dir() or not any(self.path.glob("module_state*")):
            raise FileNotFoundError(
                f"no RLModule at {self.path}: pass the policies/<role>/{MODULE_DIR} a trainer=rllib run wrote"
            )
        self.module = cast(Any, RLModule.from_checkpoint(str(self.path)))  # a torch module, on the CPU
        self.module.eval()
        self.action_space = role.action_space
        trained = (self.module.observation_space.shape, self.module.action_space)
        if trained != (role.observation_space.shape, role.action_space):
            raise ValueError(
                f"{self.path} was trained on observations {trained[0]} and actions {trained[1]}, but its role here "
                f"has {role.observation_space.shape} and {role.action_space}: the market's settings differ from "
                "the training run's (its rl_module.meta.json holds them)"
            )

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        import torch
        from gymnasium import spaces
        from ray.rllib.core.columns import Columns
        from ray.rllib.utils.spaces.space_utils import unsquash_action

        obs = torch.as_tensor(np.asarray(observation, dtype=np.float32))
        single = obs.ndim == 1
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: obs[None] if single else obs})
            dist = self.module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
            action = cast(Any, (dist.to_deterministic() if deterministic else dist).sample()).numpy()
        if isinstance(self.action_space, spaces.Box):
            action = unsquash_action(action, self.action_space)
        return (action[0] if single else action), None
