"""Policies evaluate.py and deploy.py run: a trained stable-baselines3 model with the observation
normalization it was trained with, or a scripted baseline, behind one ``predict``."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from agents.baselines import make_baseline
from envs.roles.liquidity_provider import LiquidityProvider

ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
NORMALIZATION_FILE = "vecnormalize.pkl"
BEST_NORMALIZATION_FILE = "best_vecnormalize.pkl"  # beside best_model.zip: the statistics it was validated with


def algo_class(name: str):
    import stable_baselines3 as sb3

    if name not in ALGOS:
        raise ValueError(f"agent.algo={name!r} is not one of {ALGOS}")
    return getattr(sb3, name.upper())


class TrainedPolicy:
    """``model.zip`` (its algorithm read from the run's config) and, beside it, ``vecnormalize.pkl``
    (``best_vecnormalize.pkl`` for ``best_model.zip``, the statistics it was validated with)."""

    def __init__(self, path: str | Path, device: str = "auto"):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved model at {path}: pass the model.zip a training run wrote")
        self.path = path
        self.model = self._load(path, device)
        norm = path.parent / (BEST_NORMALIZATION_FILE if path.stem == "best_model" else NORMALIZATION_FILE)
        norm = norm if norm.is_file() else path.parent / NORMALIZATION_FILE
        self.obs_rms = None
        if norm.is_file():
            with norm.open("rb") as f:
                vec_normalize = pickle.load(f)
            self.obs_rms, self.clip, self.epsilon = vec_normalize.obs_rms, vec_normalize.clip_obs, vec_normalize.epsilon

    @staticmethod
    def _load(path: Path, device: str):
        """With the algorithm the run's config names (``.hydra/config.yaml`` beside the model); for a
        model saved outside train.py, the first algorithm whose policy class the zip's matches."""
        algo = _configured_algo(path)
        candidates = [algo] if algo else list(ALGOS)
        errors = []
        for name in candidates:
            try:
                return algo_class(name).load(path, device=device)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                errors.append(f"{name}: {err}")
        raise ValueError(f"{path} is not a stable-baselines3 model of {candidates}: {errors}")

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        if self.obs_rms is None:
            return obs
        return np.clip((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon), -self.clip, self.clip)

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        return self.model.predict(self.normalize(np.asarray(observation, dtype=np.float32)), deterministic=deterministic)


def _configured_algo(model: Path) -> str | None:
    config = model.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    import yaml

    return (yaml.safe_load(config.read_text()) or {}).get("agent", {}).get("algo")


def load_policy(spec: str, role: LiquidityProvider, device: str = "auto"):
    """``baseline:<name>`` or a path to a model.zip."""
    if spec.startswith("baseline:"):
        return make_baseline(spec.split(":", 1)[1], role)
    return TrainedPolicy(spec, device)


def policy_name(spec: str) -> str:
    return spec.split(":", 1)[1] if spec.startswith("baseline:") else Path(spec).parent.name + "/" + Path(spec).stem
