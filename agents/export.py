"""Export a trained policy, its observation normalization baked in, to ONNX plus a JSON manifest.

    python -m agents.export outputs/<run>/model.zip [--out DIR] [--env-id ID] [--allow-missing-normalization]

The manifest names the env and role, the observation features and normalization, the action
mapping, the training config's sha256, package versions and the ONNX file's sha256. Deployment
loads it with onnxruntime alone (``agents.onnx_policy``): no stable-baselines3 or torch needed.

The env and role come from the checkpoint's metadata (``model.meta.json`` beside it, written by
train.py), else from its run's ``.hydra/config.yaml``; with neither, export stops rather than guess
(``--env-id`` names the env). A model trained with normalization whose ``vecnormalize.pkl`` is
missing is refused unless ``--allow-missing-normalization``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from agents.policy import TrainedPolicy, metadata_path
from envs import SPECS
from envs.spec import EnvSpec

MANIFEST_FORMAT = "defigym-policy/1"
#: the envs a policy can be exported from: those with one learning role (the market's roles export from it
#: once trained in a single-role env)
EXPORTABLE: dict[str, EnvSpec] = {spec.id: spec for spec in SPECS.values() if spec.role is not None}


def known_keys(env_id: str, env_config: dict) -> dict:
    """``env_config``'s keys the env's schema takes: an older checkpoint's others are ignored."""
    schema = EXPORTABLE[env_id].config
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"{env_id}'s config schema {schema!r} is not a dataclass")
    names = {f.name for f in dataclasses.fields(schema)}
    return {k: v for k, v in env_config.items() if k in names}


def observation_features(env_id: str, env_config: dict) -> list[tuple[str, str, str]]:
    """The role's features in order, read from the role the env builds from ``env_config`` (its keys
    outside the env's schema, from older checkpoints, are ignored)."""
    from omegaconf import OmegaConf

    spec = EXPORTABLE[env_id]
    known = known_keys(env_id, env_config)
    # the features are the role's: build its world without the data files the training machine had
    data_free = {"flow": "toy", "flow_file": None, "lending": {"calibration": "none"}}
    known |= {k: v for k, v in data_free.items() if k in known}
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(spec.config), known))
    env = spec.classes()[0](backend="numpy", horizon=1, **spec.kwargs(config))
    features = list(env.role.features)
    env.close()
    return features


class DeterministicPolicy(torch.nn.Module):
    """observation -> normalized observation -> the action SB3's ``predict(deterministic=True)`` takes."""

    # buffers (register_buffer), declared for the checker: Module's __getattr__ types them Tensor | Module
    mean: torch.Tensor
    scale: torch.Tensor
    low: torch.Tensor  # Box actions only
    high: torch.Tensor

    def __init__(self, trained: TrainedPolicy):
        super().__init__()
        self.policy = trained.model.policy.to("cpu").eval()
        n = trained.model.observation_space.shape[0]
        mean, var = (
            (trained.obs_rms.mean, trained.obs_rms.var)
            if trained.obs_rms is not None
            else (np.zeros(n), np.ones(n) - 1e-8)
        )
        eps = trained.epsilon if trained.obs_rms is not None else 1e-8
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(np.sqrt(var + eps), dtype=torch.float32))
        self.clip = float(trained.clip) if trained.obs_rms is not None else float("inf")
        space = trained.model.action_space
        self.discrete = space.__class__.__name__ == "Discrete"
        if not self.discrete:
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """The distribution's mode, computed from the networks directly (no distribution objects,
        which do not export): argmax of logits or Q-values, or the mean action."""
        x = torch.clamp((observation - self.mean) / self.scale, -self.clip, self.clip)
        p = self.policy
        if hasattr(p, "q_net"):  # DQN
            return p.q_net(x).argmax(dim=1)
        if hasattr(p, "actor"):  # SAC, TD3: a tanh-squashed actor in [-1, 1], rescaled to the space as SB3 does
            if hasattr(p.actor, "get_action_dist_params"):
                mean, _, _ = p.actor.get_action_dist_params(x)
                squashed = torch.tanh(mean)
            else:
                squashed = p.actor(x)
            return self.low + (squashed + 1.0) * 0.5 * (self.high - self.low)
        latent = p.mlp_extractor.forward_actor(p.extract_features(x, p.pi_features_extractor))  # PPO, A2C
        out = p.action_net(latent)
        return out.argmax(dim=1) if self.discrete else torch.clamp(out, self.low, self.high)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checkpoint_env(trained: TrainedPolicy, env_id: str | None = None) -> tuple[str, dict]:
    """(env id, env config) of a checkpoint, from its metadata or run config, or ``env_id`` where they
    say nothing. Raises rather than guess: when nothing names the env, when ``env_id`` contradicts
    the checkpoint, when the metadata's role is not the env's or its observation size is not the model's."""
    info = trained.checkpoint
    known = info.get("env_id")
    if env_id is not None and known not in (None, env_id):
        raise ValueError(f"--env-id {env_id} contradicts {info['source']}, which says {known}: drop --env-id")
    env_id = env_id or known
    if env_id is None:
        raise ValueError(
            f"{trained.path}: neither {metadata_path(trained.path).name} nor .hydra/config.yaml is "
            f"beside it, so its env and role are unknown. Copy one of them from the training run "
            f"next to the model, or name the env: --env-id <one of {sorted(EXPORTABLE)}>"
        )
    if env_id not in EXPORTABLE:
        raise ValueError(
            f"{trained.path} was trained on {env_id!r}; export covers the single-role envs {sorted(EXPORTABLE)}"
        )
    if info.get("role") not in (None, EXPORTABLE[env_id].role):
        raise ValueError(
            f"{info['source']} says role {info['role']!r}, but {env_id} is the {EXPORTABLE[env_id].role}'s env: "
            f"the metadata does not belong to this model; restore it from the training run"
        )
    env_config = dict(info.get("env_config") or {})
    n_features, n_inputs = len(observation_features(env_id, env_config)), trained.model.observation_space.shape[0]
    if n_features != n_inputs:
        raise ValueError(
            f"{trained.path} takes {n_inputs} observations, but {env_id} observes {n_features}: "
            f"it was not trained on {env_id}"
        )
    return env_id, env_config


def export(
    model_path: str | Path,
    out_dir: str | Path | None = None,
    env_id: str | None = None,
    allow_missing_normalization: bool = False,
) -> Path:
    """Write policy.onnx and manifest.json; returns the manifest's path. ``env_id`` overrides what the
    checkpoint says it was trained on (needed only when it says nothing)."""
    model_path = Path(model_path)
    trained = TrainedPolicy(
        model_path,
        device="cpu",
        allow_missing_normalization=allow_missing_normalization,
        opt_out="--allow-missing-normalization",
    )
    env_id, env_config = checkpoint_env(trained, env_id)
    out = Path(out_dir) if out_dir else model_path.parent / "export"
    out.mkdir(parents=True, exist_ok=True)
    module = DeterministicPolicy(trained).eval()
    example = torch.zeros(1, trained.model.observation_space.shape[0])
    onnx_path = out / "policy.onnx"
    torch.onnx.export(
        module,
        (example,),
        str(onnx_path),
        input_names=["observation"],
        output_names=["action"],
        dynamic_shapes={"observation": {0: torch.export.Dim("batch", min=1, max=1 << 20)}},
        dynamo=True,
        external_data=False,
    )
    config_file = model_path.parent / ".hydra" / "config.yaml"
    config_sha256 = sha256_of(config_file) if config_file.is_file() else trained.checkpoint.get("config_sha256")
    spec = EXPORTABLE[env_id]
    role, (discrete_meaning, continuous_meaning) = spec.role, spec.actions
    features = observation_features(env_id, env_config)
    space = trained.model.action_space
    mapping = {
        k: env_config[k]
        for k in ("half_widths", "allow_close", "fractions", "targets", "slots", "shares")
        if k in env_config
    }
    action = (
        {"type": "discrete", "n": int(space.n), "meaning": discrete_meaning}
        if module.discrete
        else {
            "type": "continuous",
            "shape": list(space.shape),
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "meaning": continuous_meaning,
        }
    ) | mapping
    manifest = {
        "format": MANIFEST_FORMAT,
        "env_id": env_id,
        "role": role,
        "env_config": env_config,
        "world": spec.world.protocols(known_keys(env_id, env_config)),  # what the policy was trained beside
        "observation": {
            "features": [{"name": n, "meaning": m, "unit": u} for n, m, u in features],
            "normalization": {
                "mean": module.mean.tolist(),
                "scale": module.scale.tolist(),
                "clip": module.clip,
                "in_graph": True,
            },
        },
        "action": action,
        "algo": type(trained.model).__name__,
        "training_config_sha256": config_sha256,
        "packages": {
            p: metadata.version(p) for p in ("stable-baselines3", "torch", "gymnasium", "defigym") if _installed(p)
        },
        "onnx": {"file": onnx_path.name, "sha256": sha256_of(onnx_path), "input": "observation", "output": "action"},
    }
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest_path


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m agents.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="a model.zip written by train.py")
    parser.add_argument("--out", default=None, help="output folder (default: <run>/export)")
    parser.add_argument(
        "--env-id",
        default=None,
        choices=sorted(EXPORTABLE),
        help="the env it was trained on, where neither model.meta.json nor .hydra/ is beside it",
    )
    parser.add_argument(
        "--allow-missing-normalization",
        action="store_true",
        help="export a model trained with normalization whose vecnormalize.pkl is lost, without it",
    )
    args = parser.parse_args(argv)
    print(export(args.model, args.out, args.env_id, args.allow_missing_normalization))


if __name__ == "__main__":
    main()
