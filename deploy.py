"""Run an exported policy on a chain through the guarded live adapter. Dry run by default.

    python -m envs.chain build-localnet --out runs/localnet && python -m envs.chain serve --state runs/localnet &
    python deploy.py live.policy=outputs/<run>/export/manifest.json live.account=0x...      # dry run
    DEFIGYM_PRIVATE_KEY=... python deploy.py live.policy=... live.send=true                 # sends

Every decision, plan, simulation, transaction and receipt goes to the SQLite journal (live.journal).
"""
from __future__ import annotations

import logging

import hydra
from omegaconf import OmegaConf

from agents.config import register
from agents.live.adapter import LiveAdapter, LiveConfig

register()


@hydra.main(config_path="configs", config_name="deploy", version_base="1.3")
def main(cfg) -> None:
    logging.getLogger("defigym.live").setLevel(logging.INFO)
    live: LiveConfig = OmegaConf.to_object(cfg.live)
    LiveAdapter(live).run()


if __name__ == "__main__":
    main()
