"""Hydra multirun trials as Ray tasks: each trial runs the app (train.py) in its own process on some node.

``python train.py -m hydra/launcher=ray hydra.launcher.ray.init.address=auto seed=0,1`` sends every
trial to the Ray cluster this machine joined (``ray start``), one CPU and one torch thread per
trial by default. A trial runs ``python train.py <its overrides> hydra.run.dir=<sweep dir>/<job num>``
as a subprocess of its Ray task, so it leaves the same run directory a joblib trial leaves and the
sweep ends with the same summary.md (agents/sweep_summary.py, the ``sweep_summary`` callback). Where
a node does not see the driver's sweep directory (no shared storage), the task sends the run
directory back and the driver writes it there. The Hydra plugin that selects this launcher is
``hydra_plugins/defigym_ray_launcher`` (Hydra only loads launchers from that package); the logic
lives here, where it is linted and type-checked.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

#: Hydra overrides the launcher owns: a trial is a plain run, not a multirun of its own
_LAUNCHER_KEYS = (
    "hydra/launcher",
    "hydra.launcher",
    "hydra/sweeper",
    "hydra.sweeper",
    "hydra.sweep.",
    "hydra.run.",
    "hydra.mode",
    "hydra.job.num",
    "hydra.job.id",
    "hydra.callbacks",
)
#: the file each trial leaves in its run directory: where and when it ran
TRIAL_RECORD = "ray_trial.json"
_LOG_TAIL = 3000


def trial_hydra_overrides(hydra_overrides: Sequence[str]) -> list[str]:
    """The sweep's own ``hydra.*`` overrides a trial keeps (logging, chdir, ...), less the launcher's, sweeper's
    and sweep directory's."""
    return [o for o in hydra_overrides if not o.lstrip("+~").startswith(_LAUNCHER_KEYS)]


def pack_run(run_dir: Path) -> bytes:
    """The run directory as a gzipped tar, to send from a node that does not share the driver's disk."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(run_dir, arcname=".")
    return buffer.getvalue()


def unpack_run(data: bytes, run_dir: Path) -> None:
    """Write a run directory :func:`pack_run` packed (on another node) at ``run_dir`` on this one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(run_dir, filter="data")


def run_trial(program: str, cwd: str, args: list[str], run_dir: str, marker: str, threads: int) -> dict[str, Any]:
    """The body of one trial's Ray task: ``python program *args`` with ``threads`` threads, its output in
    ``run_dir``/trial.log; returns the return code, the node and, off the driver's disk, the packed run."""
    import ray

    context = ray.get_runtime_context()
    record: dict[str, Any] = {
        "node_id": context.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
    }
    script = Path(program) if Path(program).is_file() else Path.cwd() / Path(program).name  # a Ray working_dir
    workdir = cwd if Path(cwd).is_dir() else str(script.parent)
    env = dict(
        os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads)
    )
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "trial.log").open("w") as log_file:
        result = subprocess.run(
            [sys.executable, str(script), *args], cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    record.update(finished=time.time(), returncode=result.returncode)
    (out / TRIAL_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    tail = (out / "trial.log").read_text(errors="replace")[-_LOG_TAIL:]
    shared = Path(marker).is_file()  # the driver wrote it in the sweep directory: this node sees the same disk
    return {**record, "log_tail": tail, "packed": None if shared else pack_run(out)}


def _job_return(
    overrides: Sequence[str],
    sweep_config: DictConfig,
    run_dir: Path,
    outcome: dict[str, Any] | None,
    error: BaseException | None,
) -> JobReturn:
    """Hydra's record of a finished trial; the return value is the run's best validation reward (what
    train.py returns, and what an Optuna sweep maximizes)."""
    ret = JobReturn(
        overrides=list(overrides),
        cfg=sweep_config,
        hydra_cfg=None,
        working_dir=str(run_dir),
        task_name=sweep_config.hydra.job.name,
    )
    if error is None and outcome is not None and outcome["returncode"] != 0:
        error = RuntimeError(
            f"trial {run_dir} exited with {outcome['returncode']}; the end of its trial.log:\n{outcome['log_tail']}"
        )
    if error is not None:
        ret.status, ret.return_value = JobStatus.FAILED, error
        return ret
    metrics_file = run_dir / "train_metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    ret.status, ret.return_value = JobStatus.COMPLETED, metrics.get("best_validation_reward")
    return ret


def _kwargs(options: DictConfig, key: str) -> dict[str, Any]:
    """``options.<key>`` as keyword arguments (none where it is missing or null)."""
    node = options.get(key)
    container = OmegaConf.to_container(node, resolve=True) if node else {}
    assert isinstance(container, dict), f"hydra.launcher.ray.{key} is a mapping of keyword arguments"
    return {str(k): v for k, v in container.items()}


def launch(
    config: DictConfig,
    config_loader: Any,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    ray_options: DictConfig,
) -> list[JobReturn]:
    """Run every job of a Hydra batch as a Ray task (``ray_options.init`` for ``ray.init``,
    ``ray_options.remote`` for each task) and wait for all of them."""
    import ray

    init, remote = _kwargs(ray_options, "init"), _kwargs(ray_options, "remote")
    remote.setdefault("num_cpus", 1)
    remote.setdefault("max_retries", 0)  # a trial that dies is reported, not rerun over its own run directory
    threads = max(int(remote["num_cpus"]), 1)
    if not ray.is_initialized():
        ray.init(**init)
    program = Path(sys.argv[0]).resolve()
    if program.suffix != ".py" or not program.is_file():
        raise RuntimeError(
            f"hydra/launcher=ray runs the app's script once per trial; {sys.argv[0]!r} is not one "
            f"(run the app as python <script>.py -m ...)"
        )
    cwd = str(config.hydra.runtime.cwd)
    sweep_dir = (Path(cwd) / str(config.hydra.sweep.dir)).resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    marker = sweep_dir / f".ray_launcher_{uuid.uuid4().hex}"
    marker.touch()
    hydra_overrides = trial_hydra_overrides(list(config.hydra.overrides.hydra))
    task = ray.remote(run_trial).options(**remote)
    jobs = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        sweep_config = config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        run_dir = sweep_dir / str(sweep_config.hydra.sweep.subdir)
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        args = [*overrides, *hydra_overrides, f"hydra.run.dir={run_dir}"]
        jobs.append(
            (overrides, sweep_config, run_dir, task.remote(str(program), cwd, args, str(run_dir), str(marker), threads))
        )
    log.info(f"Launched {len(jobs)} trials on Ray ({ray.cluster_resources().get('CPU', 0):g} CPUs in the cluster)")
    results = []
    try:
        for overrides, sweep_config, run_dir, ref in jobs:
            outcome: dict[str, Any] | None = None
            error: BaseException | None = None
            try:
                outcome = ray.get(ref)
            except Exception as e:  # the task itself failed (its node died, ...): the trial failed
                error = e
            if outcome is not None:
                if outcome["packed"] is not None:
                    unpack_run(outcome["packed"], run_dir)
                log.info(
                    f"\t{run_dir.name}: exit {outcome['returncode']} on {outcome['hostname']} "
                    f"(node {outcome['node_id'][:8]}) in {outcome['finished'] - outcome['started']:.1f} s"
                )
            results.append(_job_return(overrides, sweep_config, run_dir, outcome, error))
    finally:
        marker.unlink(missing_ok=True)
    return results
