"""PPO whose rollout, advantages and update stay on one torch device (``agent=ppo_device``).

A compact PPO in the style of CleanRL (Huang et al. 2022, "The 37 Implementation Details of
Proximal Policy Optimization"): the clipped surrogate objective of Schulman et al. 2017
(arXiv:1707.06347), advantages by Generalized Advantage Estimation (Schulman et al. 2016,
arXiv:1506.02438), optional value clipping, an entropy bonus, minibatch epochs, per-minibatch
advantage normalisation. It trains on a batched env whose ``step`` takes and returns tensors on the
policy's device (``agents.device_env``), with observation and reward normalisation kept on that
device as VecNormalize keeps them. During a rollout nothing is copied to the host; the logs read a
few scalars once per update.

The network and its statistics are laid out as stable-baselines3's ``MlpPolicy`` and ``VecNormalize``,
so ``model.zip`` and ``vecnormalize.pkl`` load as an SB3 PPO: ``evaluate.py``, ``agents.export`` (the
same ONNX manifest) and ``deploy.py`` take them unchanged.

    python train.py agent=ppo_device backend=torch                      # the LP env, on the CPU
    python train.py agent=ppo_device backend=torch device=cuda train.num_envs=4096
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Normal

from agents.device_env import DeviceVecEnv, HostBoundaryEnv

ALGO = "ppo_device"


@dataclass(frozen=True)
class PPOParams:
    """``agent.params`` of ``agent=ppo_device`` (SB3's names where the meaning is the same)."""

    n_steps: int = 32  # rollout length per env; a rollout is n_steps x num_envs frames
    n_minibatches: int = 4  # each epoch splits the rollout into this many minibatches
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    clip_range_vf: float | None = None  # clip the value update around the rollout's values (None: no clipping)
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop an update's epochs early past 1.5 x this approximate KL
    net_arch: tuple[int, ...] = (64, 64)  # hidden layers of the policy and of the value network (tanh)
    clip_obs: float = 10.0  # normalised observations are clipped to +-clip_obs
    clip_reward: float = 10.0

    @classmethod
    def from_dict(cls, given: dict[str, Any]) -> "PPOParams":
        """Checked ``agent.params``: unknown keys and out-of-range values raise, naming the key."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - fields)
        if unknown:
            hint = (
                " (ppo_device splits each rollout into agent.params.n_minibatches)" if "batch_size" in unknown else ""
            )
            raise ValueError(
                f"agent.params.{unknown[0]} is not a parameter of agent=ppo_device{hint}; it takes {sorted(fields)}"
            )
        values: dict[str, Any] = {k: tuple(v) if k == "net_arch" else v for k, v in given.items()}
        p = cls(**values)
        positive_ints = {"n_steps": p.n_steps, "n_minibatches": p.n_minibatches, "n_epochs": p.n_epochs}
        for key, count in positive_ints.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"agent.params.{key}={count!r} must be an integer >= 1")
        if not p.net_arch or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in p.net_arch):
            raise ValueError(f"agent.params.net_arch={list(p.net_arch)} must list layer widths, integers >= 1")
        ranges: dict[str, tuple[float | None, float | None, float | None]] = {  # value, low (excluded), high
            "learning_rate": (p.learning_rate, 0, None),
            "gamma": (p.gamma, 0, 1),
            "gae_lambda": (p.gae_lambda, 0, 1),
            "clip_range": (p.clip_range, 0, None),
            "clip_range_vf": (p.clip_range_vf, 0, None),
            "target_kl": (p.target_kl, 0, None),
            "ent_coef": (p.ent_coef, None, None),
            "vf_coef": (p.vf_coef, 0, None),
            "max_grad_norm": (p.max_grad_norm, 0, None),
            "clip_obs": (p.clip_obs, 0, None),
            "clip_reward": (p.clip_reward, 0, None),
        }
        for key, (value, low, high) in ranges.items():
            if value is None and key in ("clip_range_vf", "target_kl"):
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not np.isfinite(value)
                or (low is not None and value <= low)
                or (high is not None and value > high)
            ):
                bound = f" in ({low}, {high}]" if high is not None else f" > {low}" if low is not None else ""
                raise ValueError(f"agent.params.{key}={value!r} must be a finite number{bound}")
        if not isinstance(p.normalize_advantage, bool):
            raise ValueError(f"agent.params.normalize_advantage={p.normalize_advantage!r} must be true or false")
        return p


# --- normalisation on the device, as VecNormalize does it -------------------------------------------------------
class RunningMeanStd:
    """Mean and variance of a stream of batches (Chan et al.'s parallel update), in float64 on the device."""

    def __init__(self, shape: tuple[int, ...], device: torch.device, epsilon: float = 1e-4):
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = epsilon

    def update(self, x: torch.Tensor) -> None:
        x = x.double()
        n, batch_mean, batch_var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total


class Normalizer:
    """Observations scaled by their running statistics; rewards by the running standard deviation
    of the discounted return (SB3's VecNormalize, epsilon 1e-8, on the device)."""

    epsilon = 1e-8

    def __init__(
        self,
        n_obs: int,
        num_envs: int,
        device: torch.device,
        gamma: float,
        clip_obs: float,
        clip_reward: float,
        enabled: bool,
    ):
        self.enabled, self.gamma, self.clip_obs, self.clip_reward = enabled, gamma, clip_obs, clip_reward
        self.obs_rms = RunningMeanStd((n_obs,), device)
        self.ret_rms = RunningMeanStd((), device)
        self.returns = torch.zeros(num_envs, dtype=torch.float64, device=device)

    def observation(self, obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        if not self.enabled:
            return obs
        if update:
            self.obs_rms.update(obs)
        scaled = (obs - self.obs_rms.mean) / torch.sqrt(self.obs_rms.var + self.epsilon)
        return scaled.clamp(-self.clip_obs, self.clip_obs).float()

    def reward(self, reward: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """The scaled reward; updates the return statistics (training only)."""
        if not self.enabled:
            return reward
        self.returns = self.returns * self.gamma + reward
        self.ret_rms.update(self.returns)
        scaled = (reward / torch.sqrt(self.ret_rms.var + self.epsilon)).clamp(-self.clip_reward, self.clip_reward)
        self.returns = torch.where(done, 0.0, self.returns)
        return scaled.float()


# --- the network ------------------------------------------------------------------------------------------------
def _layer(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights, zero bias (CleanRL's and SB3's initialisation)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(n_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [_layer(nn.Linear(n_in, width), np.sqrt(2)), nn.Tanh()]
        n_in = width
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs, named and initialised as SB3's ``MlpPolicy`` (so its state dict
    loads into one): a categorical head for Discrete actions, a state-independent Gaussian for Box."""

    def __init__(self, n_obs: int, action_space: spaces.Space, net_arch: tuple[int, ...]):
        super().__init__()
        self.discrete = isinstance(action_space, spaces.Discrete)
        if isinstance(action_space, spaces.Discrete):
            n_out = int(action_space.n)
        elif action_space.shape is not None:
            n_out = int(np.prod(action_space.shape))
        else:
            raise TypeError(f"ActorCritic acts in a Discrete space or one with a shape, not {action_space}")
        self.mlp_extractor = nn.ModuleDict({"policy_net": _mlp(n_obs, net_arch), "value_net": _mlp(n_obs, net_arch)})
        self.action_net = _layer(nn.Linear(net_arch[-1], n_out), 0.01)
        self.value_net = _layer(nn.Linear(net_arch[-1], 1), 1.0)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(n_out))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value_net(self.mlp_extractor["value_net"](obs)).squeeze(-1)

    def distribution(self, obs: torch.Tensor) -> Categorical | Normal:
        out = self.action_net(self.mlp_extractor["policy_net"](obs))
        return (
            Categorical(logits=out, validate_args=False)
            if self.discrete
            else Normal(out, self.log_std.exp().expand_as(out), validate_args=False)
        )

    def _log_prob(self, dist: Categorical | Normal, actions: torch.Tensor) -> torch.Tensor:
        return dist.log_prob(actions) if self.discrete else dist.log_prob(actions).sum(-1)

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A sampled action, its log-probability and the state's value."""
        dist = self.distribution(obs)
        action = dist.sample()
        return action, self._log_prob(dist, action), self.value(obs)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions``, the distribution's entropy, and the states' values."""
        dist = self.distribution(obs)
        entropy = dist.entropy() if self.discrete else dist.entropy().sum(-1)
        return self._log_prob(dist, actions), entropy, self.value(obs)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action: the likeliest choice, or the Gaussian's mean."""
        out = self.action_net(self.mlp_extractor["policy_net"](obs))
        return out.argmax(-1) if self.discrete else out


# --- PPO --------------------------------------------------------------------------------------------------------
class DevicePPO:
    """PPO over a ``DeviceVecEnv``: every rollout buffer, advantage and gradient on ``env.device``."""

    def __init__(self, env: DeviceVecEnv, params: PPOParams = PPOParams(), normalize: bool = True, seed: int = 0):
        self.env, self.p, self.device, self.seed = env, params, env.device, seed
        torch.manual_seed(seed)
        obs_space, self.action_space = env.single_observation_space, env.single_action_space
        self.n_obs, n = obs_space.shape[0], env.num_envs
        self.agent = ActorCritic(self.n_obs, self.action_space, params.net_arch).to(self.device)
        # fused: Adam's step count stays a tensor on the device instead of being read on the host each step
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=params.learning_rate, eps=1e-5, fused=True)
        self.normalizer = Normalizer(
            self.n_obs, n, self.device, params.gamma, params.clip_obs, params.clip_reward, normalize
        )
        if isinstance(self.action_space, spaces.Box):
            self.low = torch.as_tensor(self.action_space.low, device=self.device)
            self.high = torch.as_tensor(self.action_space.high, device=self.device)
        action_shape = () if self.agent.discrete else self.action_space.shape or ()  # (None: ActorCritic raised)
        t, d = params.n_steps, self.device
        self.obs = torch.zeros((t, n, self.n_obs), device=d)
        self.actions = torch.zeros((t, n, *action_shape), device=d, dtype=torch.int64 if self.agent.discrete else None)
        self.logprobs, self.rewards, self.values = (torch.zeros((t, n), device=d) for _ in range(3))
        self.dones = torch.zeros((t, n), device=d, dtype=torch.bool)
        self.episode_return = torch.zeros(n, device=d)
        self.finished_return, self.finished_count = torch.zeros((), device=d), torch.zeros((), device=d)
        self.num_timesteps = 0
        self.next_obs: torch.Tensor | None = None  # the normalised observation the next rollout starts from

    @property
    def frames_per_rollout(self) -> int:
        return self.p.n_steps * self.env.num_envs

    def env_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """What the env receives: a Box action clipped to its bounds (the rollout keeps the sample)."""
        return actions if self.agent.discrete else torch.clamp(actions, self.low, self.high)

    @torch.no_grad()
    def collect_rollout(self) -> None:
        """``n_steps`` steps of every env; rewards of truncated episodes bootstrap from their last state."""
        if self.next_obs is None:
            self.next_obs = self.normalizer.observation(self.env.reset(seed=self.seed), update=True)
        for step in range(self.p.n_steps):
            self.obs[step] = self.next_obs
            action, self.logprobs[step], self.values[step] = self.agent.act(self.next_obs)
            self.actions[step] = action
            obs, reward, terminated, truncated, final_obs = self.env.step(self.env_actions(action))
            done = terminated | truncated
            self.episode_return += reward
            self.finished_return += (self.episode_return * done).sum()
            self.finished_count += done.sum()
            self.episode_return = torch.where(done, 0.0, self.episode_return)
            scaled = self.normalizer.reward(reward, done)
            final_value = self.agent.value(self.normalizer.observation(final_obs))
            self.rewards[step] = scaled + self.p.gamma * final_value * truncated
            self.dones[step] = done
            self.next_obs = self.normalizer.observation(obs, update=True)
        self.num_timesteps += self.frames_per_rollout

    @torch.no_grad()
    def advantages(self) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE(gamma, lambda) of the rollout, and the value targets (advantages + values)."""
        if self.next_obs is None:
            raise RuntimeError("the advantages are those of a rollout: call collect_rollout() first")
        advantages = torch.zeros_like(self.rewards)
        last, next_value = torch.zeros_like(self.rewards[0]), self.agent.value(self.next_obs)
        for t in reversed(range(self.p.n_steps)):
            alive = (~self.dones[t]).float()
            delta = self.rewards[t] + self.p.gamma * next_value * alive - self.values[t]
            last = delta + self.p.gamma * self.p.gae_lambda * alive * last
            advantages[t], next_value = last, self.values[t]
        return advantages, advantages + self.values

    def update(self) -> dict[str, torch.Tensor]:
        """``n_epochs`` passes over the rollout in shuffled minibatches; returns the last epoch's losses."""
        p = self.p
        advantages, returns = self.advantages()
        b_obs, b_logprobs = self.obs.flatten(0, 1), self.logprobs.flatten()
        b_actions, b_values = self.actions.flatten(0, 1), self.values.flatten()
        b_advantages, b_returns = advantages.flatten(), returns.flatten()
        size = b_obs.shape[0]
        minibatch = max(size // p.n_minibatches, 1)
        for _ in range(p.n_epochs):
            clip_fractions, approx_kls = [], []
            for idx in torch.randperm(size, device=self.device).split(minibatch):
                logprob, entropy, value = self.agent.evaluate(b_obs[idx], b_actions[idx])
                log_ratio = logprob - b_logprobs[idx]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    approx_kls.append(((ratio - 1) - log_ratio).mean())  # Schulman's unbiased estimator
                    clip_fractions.append(((ratio - 1).abs() > p.clip_range).float().mean())
                adv = b_advantages[idx]
                if p.normalize_advantage and len(idx) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - p.clip_range, 1 + p.clip_range)).mean()
                if p.clip_range_vf is not None:
                    value = b_values[idx] + (value - b_values[idx]).clamp(-p.clip_range_vf, p.clip_range_vf)
                value_loss = ((b_returns[idx] - value) ** 2).mean()
                entropy_loss = -entropy.mean()
                loss = policy_loss + p.ent_coef * entropy_loss + p.vf_coef * value_loss
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.agent.parameters(), p.max_grad_norm)
                self.optimizer.step()
            approx_kl = torch.stack(approx_kls).mean()
            if p.target_kl is not None and approx_kl.item() > 1.5 * p.target_kl:  # one read per epoch, opt-in
                break
        logs = {
            "train/policy_gradient_loss": policy_loss.detach(),
            "train/value_loss": value_loss.detach(),
            "train/entropy_loss": entropy_loss.detach(),
            "train/approx_kl": approx_kl,
            "train/clip_fraction": torch.stack(clip_fractions).mean(),
            "train/explained_variance": 1 - (b_returns - b_values).var() / b_returns.var().clamp_min(1e-12),
        }
        if not self.agent.discrete:
            logs["train/std"] = self.agent.log_std.exp().mean().detach()
        return logs

    def episode_stats(self) -> float | None:
        """Mean raw return of the episodes finished since the last call (one read from the device)."""
        total, count = self.finished_return.item(), self.finished_count.item()
        self.finished_return.zero_(), self.finished_count.zero_()
        return total / count if count else None

    def learn(
        self, total_timesteps: int, on_update: Callable[["DevicePPO", dict[str, float]], None] | None = None
    ) -> None:
        """Rollouts and updates until ``total_timesteps`` more frames; ``on_update`` sees the logs of each."""
        target, start, start_steps = self.num_timesteps + total_timesteps, time.perf_counter(), self.num_timesteps
        while self.num_timesteps < target:
            self.collect_rollout()
            losses = self.update()
            if on_update is not None:
                logs = {k: float(v) for k, v in losses.items()}
                logs["time/fps"] = (self.num_timesteps - start_steps) / (time.perf_counter() - start)
                mean_return = self.episode_stats()
                if mean_return is not None:
                    logs["rollout/ep_rew_mean"] = mean_return
                on_update(self, logs)

    @torch.no_grad()
    def evaluate_policy(self, env: DeviceVecEnv, seed: int) -> float:
        """Mean raw return of the deterministic policy over one episode of each of ``env``'s worlds."""
        obs, total = env.reset(seed=seed), torch.zeros(env.num_envs, device=env.device)
        running = torch.ones(env.num_envs, dtype=torch.bool, device=env.device)
        while bool(running.any()):  # one read per step: validation only, never in a rollout
            action = self.env_actions(self.agent.mode(self.normalizer.observation(obs)))
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward * running
            running &= ~(terminated | truncated)
        return float(total.mean())

    # --- checkpoints in stable-baselines3's formats ---------------------------------------------------------------
    def _spaces_env(self):
        from stable_baselines3.common.vec_env import DummyVecEnv

        from agents.device_env import SpacesOnly

        return DummyVecEnv([lambda: SpacesOnly(self.env.single_observation_space, self.action_space)])

    def save(self, path: Path) -> Path | None:
        """``path`` as an SB3 PPO zip, and beside it the normalisation as an SB3 VecNormalize pickle
        (vecnormalize.pkl; best_vecnormalize.pkl for best_model.zip); returns the pickle's path (None
        without normalisation)."""
        from stable_baselines3 import PPO
        from stable_baselines3.common.vec_env import VecNormalize

        from agents.policy import default_normalization_file

        p, spaces_env = self.p, self._spaces_env()
        model = PPO(
            "MlpPolicy",
            spaces_env,
            n_steps=p.n_steps,
            batch_size=p.n_steps,
            n_epochs=p.n_epochs,
            learning_rate=p.learning_rate,
            gamma=p.gamma,
            gae_lambda=p.gae_lambda,
            clip_range=p.clip_range,
            clip_range_vf=p.clip_range_vf,
            normalize_advantage=p.normalize_advantage,
            ent_coef=p.ent_coef,
            vf_coef=p.vf_coef,
            max_grad_norm=p.max_grad_norm,
            target_kl=p.target_kl,
            device="cpu",
            policy_kwargs={"net_arch": {"pi": list(p.net_arch), "vf": list(p.net_arch)}},
        )
        model.policy.load_state_dict({k: v.detach().cpu() for k, v in self.agent.state_dict().items()})
        model.num_timesteps = self.num_timesteps
        model.save(path)
        if not self.normalizer.enabled:
            return None
        n = self.normalizer
        vec_normalize = VecNormalize(
            spaces_env, gamma=p.gamma, clip_obs=p.clip_obs, clip_reward=p.clip_reward, epsilon=n.epsilon
        )
        obs_rms = vec_normalize.obs_rms
        if isinstance(obs_rms, dict):  # VecNormalize keeps one per key of a Dict space; ours is a Box
            raise TypeError(f"VecNormalize over {spaces_env.observation_space} keeps statistics per key")
        for sb3_rms, rms in ((obs_rms, n.obs_rms), (vec_normalize.ret_rms, n.ret_rms)):
            sb3_rms.mean, sb3_rms.var, sb3_rms.count = rms.mean.cpu().numpy(), rms.var.cpu().numpy(), rms.count
        norm_path = path.parent / default_normalization_file(path)
        vec_normalize.save(str(norm_path))
        return norm_path

    def load(self, path: Path, normalization: Path | None) -> None:
        """Continue from an SB3 PPO zip of this layout (and its VecNormalize pickle, when given)."""
        from stable_baselines3 import PPO

        model = PPO.load(path, device="cpu")
        try:
            self.agent.load_state_dict(model.policy.state_dict())
        except RuntimeError as err:
            raise ValueError(
                f"train.resume={path}: its network is not agent=ppo_device's (net_arch={list(self.p.net_arch)}): {err}"
            ) from err
        self.num_timesteps = int(model.num_timesteps)
        if normalization is not None:
            with normalization.open("rb") as f:
                saved = pickle.load(f)
            for rms, sb3_rms in ((self.normalizer.obs_rms, saved.obs_rms), (self.normalizer.ret_rms, saved.ret_rms)):
                rms.mean = torch.as_tensor(sb3_rms.mean, dtype=torch.float64, device=self.device)
                rms.var = torch.as_tensor(sb3_rms.var, dtype=torch.float64, device=self.device)
                rms.count = float(sb3_rms.count)


# --- train.py's entry point -------------------------------------------------------------------------------------
def check_config(cfg) -> PPOParams:
    """What agent=ppo_device needs of the config, with the fix named; returns its checked parameters."""
    from agents.config import env_spec

    if cfg.backend.name != "torch":
        raise ValueError(
            f"agent=ppo_device steps the torch simulator on the policy's device, not backend="
            f"{cfg.backend.name}: add backend=torch (and device=cuda for a GPU), or train with agent=ppo"
        )
    if env_spec(cfg).role is None:  # the market
        raise ValueError("agent=ppo_device trains the single-agent envs; for env=defi_market use agent=ppo")
    return PPOParams.from_dict(_plain_dict(cfg.agent.params, "agent.params"))


def _plain_dict(node, name: str) -> dict[str, Any]:
    """The config mapping ``node`` (``name`` in the config) as a plain dict, interpolations resolved."""
    from omegaconf import OmegaConf

    value = OmegaConf.to_container(node, resolve=True)
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping, got {value!r}")
    return cast(dict[str, Any], value)  # a Hydra config's mapping keys are strings


def make_device_env(cfg, window: list[float], num_envs: int, device: torch.device) -> HostBoundaryEnv:
    """The config's env as ``num_envs`` worlds of the torch simulator on ``device``."""
    from agents.config import env_classes, env_kwargs

    _, vector_env = env_classes(cfg.env.id)
    return HostBoundaryEnv(
        vector_env(num_envs=num_envs, backend="torch", device=str(device), **env_kwargs(cfg, window)), device
    )


def train_from_config(cfg, run_dir: Path, resumed_normalization: Path | None) -> dict[str, Any]:
    """train.py with agent=ppo_device: train, validate every ``train.eval_freq`` frames, save model.zip
    (and best_model.zip) with normalisation and metadata as the SB3 path does. Returns the run's summary
    (steps, seconds, frames/s, the best validation reward if validated), which train.py writes and
    follows with the evaluation, as for the SB3 path."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from agents.config import learning_role
    from agents.policy import write_metadata
    from envs.arrays import array_backend

    params = check_config(cfg)
    device = array_backend("torch", cfg.device).device  # auto: cuda when present
    ppo = DevicePPO(
        make_device_env(cfg, cfg.train.window, cfg.train.num_envs, device),
        params,
        normalize=cfg.train.normalize,
        seed=cfg.seed,
    )
    if cfg.train.resume:
        ppo.load(Path(cfg.train.resume), resumed_normalization)
    eval_env = (
        make_device_env(cfg, cfg.train.eval_window, cfg.train.eval_episodes, device)
        if cfg.train.eval_freq > 0
        else None
    )

    def save(path: Path) -> None:
        ppo.save(path)
        meta = write_metadata(
            path,
            env_id=cfg.env.id,
            role=learning_role(cfg),
            algo="ppo",
            env_config=_plain_dict(cfg.env, "env"),
            normalize=cfg.train.normalize,
            timesteps=ppo.num_timesteps,
            config_file=run_dir / ".hydra" / "config.yaml",
        )
        meta.write_text(json.dumps(json.loads(meta.read_text()) | {"trainer": ALGO}, indent=2) + "\n")

    writer = SummaryWriter(str(run_dir / "tb" / f"{ALGO}_1"))
    bar = tqdm(
        total=cfg.train.total_timesteps, unit="frames", unit_scale=True, disable=not cfg.train.progress_bar, desc=ALGO
    )
    best, next_eval = -np.inf, cfg.train.eval_freq

    def on_update(ppo: DevicePPO, logs: dict[str, float]) -> None:
        nonlocal best, next_eval
        if eval_env is not None and ppo.num_timesteps >= next_eval:
            while next_eval <= ppo.num_timesteps:
                next_eval += cfg.train.eval_freq
            logs["eval/mean_reward"] = ppo.evaluate_policy(eval_env, cfg.seed + 10_000)
            if logs["eval/mean_reward"] > best:
                best = logs["eval/mean_reward"]
                save(run_dir / "best_model.zip")
        for key, value in logs.items():
            writer.add_scalar(key, value, ppo.num_timesteps)
        bar.update(ppo.frames_per_rollout)
        bar.set_postfix(fps=f"{logs['time/fps']:,.0f}", ep_rew=f"{logs.get('rollout/ep_rew_mean', float('nan')):.3g}")

    start, start_steps = time.perf_counter(), ppo.num_timesteps
    try:
        ppo.learn(cfg.train.total_timesteps, on_update)
    except KeyboardInterrupt:
        save(run_dir / "model.zip")
        print(
            f"interrupted after {ppo.num_timesteps} steps: saved {run_dir / 'model.zip'} with its normalization "
            f"and metadata; continue with train.resume={run_dir / 'model.zip'}",
            file=sys.stderr,
        )
        sys.exit(130)
    finally:
        bar.close()
        writer.close()
    seconds = time.perf_counter() - start
    save(run_dir / "model.zip")
    summary = {
        "timesteps": ppo.num_timesteps,
        "seconds": round(seconds, 1),
        "fps": round((ppo.num_timesteps - start_steps) / seconds, 1),
        "device": str(device),
        "algo": ALGO,
    }
    if eval_env is not None and best > -np.inf:
        summary["best_validation_reward"] = best
    return summary
