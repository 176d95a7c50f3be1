"""hydra/launcher=ray (configs/hydra/launcher/ray.yaml): Hydra loads launchers from hydra_plugins only, so
this class stays here and hands each batch to agents.ray_sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class RayLauncher(Launcher):
    """Every trial of a multirun a Ray task running the app's script; ``ray.init`` and ``ray.remote`` take
    their keyword arguments from the config."""

    def __init__(self, ray: DictConfig) -> None:
        self.ray = ray
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from agents.ray_sweep import launch

        assert self.config is not None and self.hydra_context is not None
        config_loader: Any = self.hydra_context.config_loader
        return launch(self.config, config_loader, job_overrides, initial_job_idx, self.ray)
