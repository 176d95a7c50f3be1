"""Keep private keys out of configs, logs and Hydra's run directory: anything that looks like one in
a command-line override or a config field is refused, naming the field and never the value."""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

#: 32 bytes of hex (a secp256k1 private key), with or without 0x, not part of a longer hex string
KEY_LIKE = re.compile(r"(?<![0-9a-fA-F])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")


class SecretInConfigError(ValueError):
    """A value that looks like a private key was given where keys are never accepted."""


def looks_like_key(value: Any) -> bool:
    return isinstance(value, str) and KEY_LIKE.search(value) is not None


def _refusal(where: str) -> SecretInConfigError:
    return SecretInConfigError(
        f"{where} holds what looks like a private key (64 hex digits); it is refused and not shown. Keys are "
        f"read only from the environment variable named by live.key_env (default $DEFIGYM_PRIVATE_KEY) or "
        f"from an encrypted live.keystore. If this key was ever used, treat it as exposed."
    )


def refuse_keys_in_overrides(argv: Iterable[str]) -> None:
    """Before Hydra parses (and would print and save) the command line: no override may carry a key."""
    for arg in argv:
        if looks_like_key(arg):
            name = arg.split("=", 1)[0] if "=" in arg else "a command-line argument"
            raise _refusal(f"the override {name}")


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def refuse_keys_in_config(config: dict) -> None:
    """No field of a (plain, resolved) config may carry a key."""
    for path, value in _leaves(config, ""):
        if looks_like_key(value):
            raise _refusal(path)
