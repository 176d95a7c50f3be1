"""Run an exported policy with onnxruntime alone, after checking its manifest and the file's hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

MANIFEST_FORMAT = "defigym-policy/1"
REQUIRED = ("format", "env_id", "role", "observation", "action", "onnx")


class ManifestError(ValueError):
    """The manifest or the ONNX file beside it is not what deployment can trust."""


class OnnxPolicy:
    def __init__(self, manifest_path: str | Path):
        manifest_path = Path(manifest_path)
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise ManifestError(
                f"no manifest at {manifest_path}: export one with `python -m agents.export model.zip`"
            ) from None
        except json.JSONDecodeError as err:
            raise ManifestError(f"{manifest_path} is not valid JSON ({err}); re-export the policy") from None
        missing = [k for k in REQUIRED if k not in self.manifest]
        if missing:
            raise ManifestError(f"{manifest_path} is malformed: missing {missing}; re-export the policy")
        if self.manifest["format"] != MANIFEST_FORMAT:
            raise ManifestError(f"{manifest_path}: format {self.manifest['format']!r}, expected {MANIFEST_FORMAT!r}")
        onnx_path = manifest_path.parent / self.manifest["onnx"]["file"]
        if not onnx_path.is_file():
            raise ManifestError(f"the manifest names {onnx_path}, which does not exist")
        digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        if digest != self.manifest["onnx"]["sha256"]:
            raise ManifestError(
                f"{onnx_path} has sha256 {digest}, but the manifest says {self.manifest['onnx']['sha256']}: "
                f"the file changed after export; refusing to run it"
            )
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.n_features = len(self.manifest["observation"]["features"])

    @property
    def discrete(self) -> bool:
        return self.manifest["action"]["type"] == "discrete"

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        obs = np.asarray(observation, dtype=np.float32)
        batch = obs.reshape(-1, self.n_features)
        (action,) = self.session.run(None, {self.manifest["onnx"]["input"]: batch})
        return (action if obs.ndim == 2 else action[0]), None
