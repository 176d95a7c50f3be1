"""The composed Hydra config, as train.py and evaluate.py see it, for the tests that check configs."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from agents.config import register

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: a market with a sandwich searcher (its bids are config keys)
SANDWICH = "env=defi_market env.n_searchers=1 env.sandwich_usd=2000000 env.slippage_bps=50"


def config(*overrides: str) -> DictConfig:
    """The config train.py and evaluate.py would see with these overrides."""
    register()
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return compose("config", overrides=list(overrides))
