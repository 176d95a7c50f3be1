"""Export a trained policy, its observation normalization baked in, to ONNX plus a JSON manifest.

    python -m agents.export outputs/<run>/model.zip [--out DIR]

The manifest names the env and role, the observation features and normalization, the action
mapping, the training config's sha256, package versions and the ONNX file's sha256. Deployment
loads it with onnxruntime alone (``agents.onnx_policy``): no stable-baselines3 or torch needed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from agents.policy import TrainedPolicy
from envs.roles.liquidity_provider import OBSERVATION_FEATURES

MANIFEST_FORMAT = "defigym-policy/1"
ROLE = "liquidity_provider"


class DeterministicPolicy(torch.nn.Module):
    """observation -> normalized observation -> the action SB3's ``predict(deterministic=True)`` takes."""

    def __init__(self, trained: TrainedPolicy):
        super().__init__()
        self.policy = trained.model.policy.to("cpu").eval()
        n = len(OBSERVATION_FEATURES)
        mean, var = ((trained.obs_rms.mean, trained.obs_rms.var) if trained.obs_rms is not None
                     else (np.zeros(n), np.ones(n) - 1e-8))
        eps = trained.epsilon if trained.obs_rms is not None else 1e-8
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(np.sqrt(var + eps), dtype=torch.float32))
        self.clip = float(trained.clip) if trained.obs_rms is not None else float("inf")
        self.discrete = trained.model.action_space.__class__.__name__ == "Discrete"

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """The distribution's mode, computed from the networks directly (no distribution objects,
        which do not export): argmax of logits or Q-values, or the mean action."""
        x = torch.clamp((observation - self.mean) / self.scale, -self.clip, self.clip)
        p = self.policy
        if hasattr(p, "q_net"):  # DQN
            return p.q_net(x).argmax(dim=1)
        if hasattr(p, "actor"):  # SAC, TD3: a tanh-squashed actor; the LP's continuous space is [-1, 1]^2
            if hasattr(p.actor, "get_action_dist_params"):
                mean, _, _ = p.actor.get_action_dist_params(x)
                return torch.tanh(mean)
            return p.actor(x)
        latent = p.mlp_extractor.forward_actor(p.extract_features(x, p.pi_features_extractor))  # PPO, A2C
        out = p.action_net(latent)
        return out.argmax(dim=1) if self.discrete else torch.clamp(out, -1.0, 1.0)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(model_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write policy.onnx and manifest.json; returns the manifest's path."""
    model_path = Path(model_path)
    trained = TrainedPolicy(model_path, device="cpu")
    out = Path(out_dir) if out_dir else model_path.parent / "export"
    out.mkdir(parents=True, exist_ok=True)
    module = DeterministicPolicy(trained)
    example = torch.zeros(1, len(OBSERVATION_FEATURES))
    onnx_path = out / "policy.onnx"
    torch.onnx.export(module, (example,), str(onnx_path), input_names=["observation"], output_names=["action"],
                      dynamic_shapes={"observation": {0: torch.export.Dim("batch", min=1, max=1 << 20)}},
                      dynamo=True, external_data=False)
    config_file = model_path.parent / ".hydra" / "config.yaml"
    env_config = {}
    if config_file.is_file():
        import yaml

        env_config = yaml.safe_load(config_file.read_text()).get("env", {})
    half_widths = env_config.get("half_widths")
    space = trained.model.action_space
    action = ({"type": "discrete", "n": int(space.n), "half_widths_ticks": half_widths,
               "meaning": "0 holds; i > 0 re-centres at half_widths_ticks[i-1]"} if module.discrete else
              {"type": "continuous", "shape": list(space.shape), "half_widths_ticks": half_widths,
               "meaning": "re-centre if a[0] > 0, at a half-width log-spaced between the extremes by a[1]"})
    manifest = {
        "format": MANIFEST_FORMAT,
        "env_id": env_config.get("id", "defigym/UniswapV3LP-v0"),
        "role": ROLE,
        "env_config": env_config,
        "observation": {"features": [{"name": n, "meaning": m, "unit": u} for n, m, u in OBSERVATION_FEATURES],
                        "normalization": {"mean": module.mean.tolist(), "scale": module.scale.tolist(),
                                          "clip": module.clip, "in_graph": True}},
        "action": action,
        "algo": type(trained.model).__name__,
        "training_config_sha256": sha256_of(config_file) if config_file.is_file() else None,
        "packages": {p: metadata.version(p) for p in ("stable-baselines3", "torch", "gymnasium", "defigym")
                     if _installed(p)},
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
    parser = argparse.ArgumentParser(prog="python -m agents.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model.zip written by train.py")
    parser.add_argument("--out", default=None, help="output folder (default: <run>/export)")
    args = parser.parse_args(argv)
    print(export(args.model, args.out))


if __name__ == "__main__":
    main()
