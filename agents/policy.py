"""Policies evaluate.py and deploy.py run: a trained stable-baselines3 model with the observation
normalization it was trained with, or a scripted baseline, behind one ``predict``.

Every checkpoint train.py writes (``model.zip``, ``best_model.zip``) has two files beside it: its
observation normalization (``vecnormalize.pkl``; ``best_vecnormalize.pkl`` for ``best_model.zip``)
and its metadata (``model.meta.json``, ``best_model.meta.json``): env id, role, algorithm, env
config, whether it was trained with normalization and the normalization file's name. A checkpoint
moved away from its run folder thus still says what it is."""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from agents.baselines import make_baseline
from envs.roles.liquidity_provider import LiquidityProvider

ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
RLLIB_ALGO = "rllib_ppo"  # a checkpoint's algo when it is an RLModule trained with trainer=rllib
NORMALIZATION_FILE = "vecnormalize.pkl"
BEST_NORMALIZATION_FILE = "best_vecnormalize.pkl"  # beside best_model.zip: the statistics it was validated with
METADATA_SUFFIX = ".meta.json"  # model.zip -> model.meta.json
CHECKPOINT_FORMAT = "defigym-checkpoint/1"


def algo_class(name: str):
    import stable_baselines3 as sb3

    if name not in ALGOS:
        raise ValueError(f"agent.algo={name!r} is not one of {ALGOS}")
    return getattr(sb3, name.upper())


def metadata_path(model: str | Path) -> Path:
    """``<dir>/model.zip`` -> ``<dir>/model.meta.json``."""
    model = Path(model)
    return model.with_name(model.stem + METADATA_SUFFIX)


def default_normalization_file(model: str | Path) -> str:
    """The normalization file train.py writes beside a checkpoint of this name."""
    return BEST_NORMALIZATION_FILE if Path(model).stem == "best_model" else NORMALIZATION_FILE


def write_metadata(
    model: str | Path,
    *,
    env_id: str,
    role: str,
    algo: str,
    env_config: dict[str, Any],
    normalize: bool,
    timesteps: int | None = None,
    config_file: Path | None = None,
) -> Path:
    """Write ``<model>.meta.json`` beside ``model``: what loading, evaluating and exporting it need
    when its run folder (``.hydra/``) is not at hand. Returns the file's path."""
    meta = {
        "format": CHECKPOINT_FORMAT,
        "env_id": env_id,
        "role": role,
        "algo": algo,
        "env_config": env_config,
        "normalize": bool(normalize),
        "normalization_file": default_normalization_file(model) if normalize else None,
        "timesteps": timesteps,
        "config_sha256": (
            hashlib.sha256(config_file.read_bytes()).hexdigest()
            if config_file is not None and config_file.is_file()
            else None
        ),
    }
    path = metadata_path(model)
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def read_checkpoint(model: str | Path) -> dict[str, Any]:
    """What is known of a checkpoint: its ``.meta.json``, else its run's ``.hydra/config.yaml``, else
    nothing. Keys: ``source`` (the file read, or None), ``env_id``, ``role``, ``algo``, ``env_config``,
    ``normalize`` (None when unknown) and ``normalization_file``."""
    model = Path(model)
    meta_file = metadata_path(model)
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{meta_file} is not valid JSON ({err}): restore it from the training run") from err
        return meta | {"source": str(meta_file)}
    config_file = model.parent / ".hydra" / "config.yaml"
    if config_file.is_file():
        import yaml

        config = yaml.safe_load(config_file.read_text()) or {}
        env = config.get("env") or {}
        normalize = (config.get("train") or {}).get("normalize")
        return {
            "source": str(config_file),
            "env_id": env.get("id"),
            "role": None,
            "algo": (config.get("agent") or {}).get("algo"),
            "env_config": env,
            "normalize": normalize,
            "normalization_file": default_normalization_file(model) if normalize is not False else None,
        }
    return {
        "source": None,
        "env_id": None,
        "role": None,
        "algo": None,
        "env_config": {},
        "normalize": None,
        "normalization_file": None,
    }


def normalization_file(model: str | Path) -> Path:
    """Where a checkpoint's observation normalization is (whether or not the file exists)."""
    name = read_checkpoint(model).get("normalization_file") or default_normalization_file(model)
    return Path(model).parent / name


def missing_normalization(model: Path, norm: Path, opt_out: str) -> str:
    """The error for a checkpoint whose normalization file is missing: what, why, and the two fixes."""
    return (
        f"{model}: {norm.name} is missing beside it, but the model was trained on normalized observations "
        f"(its metadata or run config says train.normalize=true, or says nothing); on raw observations it "
        f"acts differently. Copy {norm.name} from the training run into {norm.parent}, or pass {opt_out} "
        f"to go on without normalization knowingly"
    )


class TrainedPolicy:
    """``model.zip`` and the observation normalization it was trained with (``vecnormalize.pkl``;
    ``best_vecnormalize.pkl`` for ``best_model.zip``, the statistics it was validated with). A model
    trained with normalization whose file is missing is refused unless ``allow_missing_normalization``
    (``opt_out`` names that switch in the error message)."""

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        allow_missing_normalization: bool = False,
        opt_out: str = "eval.allow_missing_normalization=true",
    ):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved model at {path}: pass the model.zip a training run wrote")
        self.path = path
        self.checkpoint = read_checkpoint(path)
        self.model = self._load(path, device, self.checkpoint.get("algo"))
        self.obs_rms = None
        norm = path.parent / (self.checkpoint.get("normalization_file") or default_normalization_file(path))
        if self.checkpoint.get("normalize") is False:
            return
        if not norm.is_file():
            if not allow_missing_normalization:
                raise FileNotFoundError(missing_normalization(path, norm, opt_out))
            warnings.warn(f"{path}: running without its normalization ({norm.name} is missing), as asked")
            return
        with norm.open("rb") as f:
            vec_normalize = pickle.load(f)
        self.obs_rms, self.clip, self.epsilon = vec_normalize.obs_rms, vec_normalize.clip_obs, vec_normalize.epsilon

    @staticmethod
    def _load(path: Path, device: str, algo: str | None):
        """With the algorithm the checkpoint's metadata or run config names; for a model saved outside
        train.py, the first algorithm whose policy class the zip's matches."""
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
        return self.model.predict(
            self.normalize(np.asarray(observation, dtype=np.float32)), deterministic=deterministic
        )


def load_policy(spec: str, role: LiquidityProvider, device: str = "auto", allow_missing_normalization: bool = False):
    """``baseline:<name>``, a path to a model.zip, or a role's ``rl_module`` directory (trainer=rllib)."""
    if spec.startswith("baseline:"):
        return make_baseline(spec.split(":", 1)[1], role)
    checkpoint = read_checkpoint(spec)
    trained_role = checkpoint.get("role")
    wanted = ROLE_NAMES.get(type(role).__name__)
    if trained_role is not None and wanted is not None and trained_role != wanted:
        raise ValueError(
            f"{spec} plays the {trained_role} role, not the {wanted} it is loaded for: point "
            f"env.train_role (or env.others) at a {wanted} checkpoint"
        )
    if checkpoint.get("algo") == RLLIB_ALGO or Path(spec).is_dir():  # a role's RLModule from trainer=rllib
        from agents.rllib_trainer import RLModulePolicy

        if checkpoint.get("algo") != RLLIB_ALGO:
            raise FileNotFoundError(
                f"{spec} is a directory without {metadata_path(spec).name} beside it: pass a policies/<role>/rl_module "
                "a trainer=rllib run wrote, with its metadata, or a model.zip"
            )
        return RLModulePolicy(spec, role)
    return TrainedPolicy(spec, device, allow_missing_normalization)


#: role class -> the role's name in checkpoints and configs
ROLE_NAMES = {
    "LiquidityProvider": "liquidity_provider",
    "Arbitrageur": "arbitrageur",
    "Borrower": "borrower",
    "Liquidator": "liquidator",
    "Trader": "trader",
    "V2LiquidityProvider": "v2_liquidity_provider",
    "SandwichSearcher": "searcher",
    "JITProvider": "jit_provider",
}


def policy_name(spec: str) -> str:
    return spec.split(":", 1)[1] if spec.startswith("baseline:") else Path(spec).parent.name + "/" + Path(spec).stem
