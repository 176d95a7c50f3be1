"""Where the project's checkout and its npm packages are (the protocols' artifacts and anvil)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def node_modules_dir() -> Path:
    """Where the npm packages live: ``$DEFIGYM_NODE_MODULES`` or ``<project>/node_modules``."""
    return Path(os.environ.get("DEFIGYM_NODE_MODULES", PROJECT_ROOT / "node_modules"))
