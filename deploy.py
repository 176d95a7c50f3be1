"""Run an exported policy on a chain through the guarded live adapter. Dry run by default.

    python -m envs.contracts build-localnet --out runs/localnet && python -m envs.contracts serve --state runs/localnet &
    python deploy.py live.policy=outputs/<run>/export/manifest.json live.account=0x...      # dry run
    DEFIGYM_PRIVATE_KEY=... python deploy.py live.policy=... live.send=true                 # sends

Every decision, plan, simulation, transaction and receipt goes to the SQLite journal (live.journal).
A private key is read only from the environment (live.key_env) or a keystore: one typed on the
command line is refused before Hydra can print or save it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from agents.config import register
from agents.live.adapter import LiveAdapter, LiveConfig
from agents.live.secrets import SecretInConfigError, looks_like_key, refuse_keys_in_config, refuse_keys_in_overrides
from agents.live.validation import LiveConfigError

register()


def _fail(message: str) -> None:
    print(f"deploy.py: {message}", file=sys.stderr)
    sys.exit(2)


def _scrub_run_dir() -> None:
    """Delete what Hydra saved of a config that carries a key (a key typed into a config file)."""
    saved = Path(HydraConfig.get().runtime.output_dir) / HydraConfig.get().output_subdir
    for path in saved.glob("*.yaml") if saved.is_dir() else ():
        if looks_like_key(path.read_text()):
            path.unlink()


@hydra.main(config_path="configs", config_name="deploy", version_base="1.3")
def main(cfg) -> None:
    logging.getLogger("defigym.live").setLevel(logging.INFO)
    try:
        refuse_keys_in_config(OmegaConf.to_container(cfg, resolve=True))
        live: LiveConfig = OmegaConf.to_object(cfg.live)
        LiveAdapter(live).run()
    except SecretInConfigError as err:
        _scrub_run_dir()
        _fail(str(err))
    except LiveConfigError as err:
        _fail(str(err))


if __name__ == "__main__":
    try:
        refuse_keys_in_overrides(sys.argv[1:])
    except SecretInConfigError as err:
        _fail(str(err))
    main()
