"""Array backends for the simulator: ``numpy`` (CPU) or ``torch`` (CPU or CUDA), always float64.

The protocol code is written once against the array-API namespace; this module only picks the
namespace and device and moves inputs onto it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

BACKENDS = ("numpy", "torch")
#: an array of whichever backend the caller runs (numpy or torch): the array API has no static type
Array: TypeAlias = Any


@dataclass(frozen=True)
class ArrayBackend:
    name: str
    xp: Any  # the array-API namespace
    device: Any = None

    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype=dtype or self.xp.float64, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)

    def flags(self, mask) -> Any:
        """A numpy mask as the backend's booleans."""
        return self.xp.asarray(mask, dtype=self.xp.bool, device=self.device)

    def masked(self, x, mask) -> Any:
        """A numpy amount, zero outside ``mask``, on the backend (a masked-out world acts on nothing)."""
        return self.asarray(np.where(mask, x, 0.0))


def array_backend(name: str = "numpy", device: str | None = None) -> ArrayBackend:
    """``numpy``, or ``torch`` on ``device`` ("cpu", "cuda", "auto" = cuda when present)."""
    if name == "numpy":
        if device not in (None, "cpu", "auto"):
            raise ValueError(
                f"the numpy backend runs on the CPU only; got device={device!r}. Use backend=torch for {device}"
            )
        import array_api_compat.numpy as np_xp

        return ArrayBackend("numpy", np_xp, None)
    if name == "torch":
        import array_api_compat.torch as torch_xp
        import torch

        chosen = ("cuda" if torch.cuda.is_available() else "cpu") if device in (None, "auto") else str(device)
        if chosen.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={chosen!r} asked for, but torch sees no CUDA device; use device=cpu or auto")
        return ArrayBackend("torch", torch_xp, torch.device(chosen))
    raise ValueError(f"unknown array backend {name!r}; choose one of {BACKENDS}")
