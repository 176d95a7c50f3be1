"""How many threads a training process lets torch and BLAS use."""

from __future__ import annotations


def limit_threads(threads: int) -> None:
    """One torch and one BLAS thread per process by default: a small MLP gains nothing from more, and on
    a shared machine extra threads only contend (train.threads)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
