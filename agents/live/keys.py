"""The signing key: from an environment variable or an encrypted keystore file. The key itself is
never printed, logged or written; only the address is shown."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount


class SigningKeyError(ValueError):
    """No usable key."""


def load_signer(
    key_env: str = "DEFIGYM_PRIVATE_KEY", keystore: str | None = None, password_env: str = "DEFIGYM_KEYSTORE_PASSWORD"
) -> LocalAccount:
    if keystore:
        path = Path(keystore)
        if not path.is_file():
            raise SigningKeyError(f"keystore file {path} does not exist")
        password = os.environ.get(password_env)
        if password is None:
            raise SigningKeyError(f"keystore {path} needs its password in ${password_env}")
        try:
            return Account.from_key(Account.decrypt(json.loads(path.read_text()), password))
        except ValueError:
            raise SigningKeyError(f"cannot decrypt keystore {path}: wrong password in ${password_env}?") from None
    key = os.environ.get(key_env)
    if not key:
        raise SigningKeyError(
            f"no signing key: set ${key_env} to a private key, or live.keystore to an encrypted "
            f"keystore file (its password in ${password_env}). Dry runs need no key."
        )
    try:
        return Account.from_key(key)
    except (ValueError, TypeError):
        raise SigningKeyError(f"${key_env} does not hold a valid private key (64 hex digits)") from None
