"""Each learning role's curve, read back from the TensorBoard logs its learner wrote (``tb/<role>/``): the
mean episode reward SB3 records at the end of every rollout (``rollout/ep_rew_mean``), against the
market blocks played so far, as a CSV and one PNG with a panel per role, so a co-training run shows how
the roles adapted to each other without starting TensorBoard."""

from __future__ import annotations

import csv
from pathlib import Path

EPISODE_REWARD = "rollout/ep_rew_mean"  # SB3's tag: the mean reward of the last 100 finished episodes


def read_curve(role_dir: Path) -> list[tuple[int, float]]:
    """(agent-steps of the role, mean episode reward) at each logged rollout, from every event file under
    ``role_dir`` (empty when the role finished no episode)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: dict[int, float] = {}
    for events in sorted(role_dir.rglob("events.out.tfevents.*")):
        log = EventAccumulator(str(events), size_guidance={"scalars": 0})
        log.Reload()
        if EPISODE_REWARD in log.Tags()["scalars"]:
            points |= {e.step: e.value for e in log.Scalars(EPISODE_REWARD)}
    return sorted(points.items())


def write_learning_curves(tb_dir: Path, slots: dict[str, int], out_dir: Path) -> Path:
    """``learning_curves.csv`` and ``learning_curves.png`` in ``out_dir``, for each role of ``slots`` (role ->
    the agent slots its learner steps per block, so its steps become blocks); returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {role: read_curve(tb_dir / role) for role in slots}
    with open(out_dir / "learning_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["role", "block", "agent_steps", "mean_episode_reward"])
        for role, points in curves.items():
            writer.writerows((role, step // slots[role], step, value) for step, value in points)
    fig, axes = plt.subplots(len(curves), 1, figsize=(8, 2.6 * len(curves)), sharex=True, squeeze=False)
    for ax, (role, points) in zip(axes[:, 0], curves.items()):
        blocks, values = [step // slots[role] for step, _ in points], [value for _, value in points]
        ax.plot(blocks, values, drawstyle="steps-post")  # the mean moves only when episodes end
        changed = [i for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
        ax.plot([blocks[i] for i in changed], [values[i] for i in changed], "o", markersize=3)
        ax.set(ylabel="mean episode reward", title=role)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("blocks per market")
    fig.suptitle("Co-training: each role's learning curve")
    fig.tight_layout()
    path = out_dir / "learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
