"""Pseudonymisation of subscriber numbers.

A number becomes the first `id_length` hex characters of SHA-256(key || number).
The key comes from an environment variable or a secret file, never from the
repository; without the key the mapping cannot be recomputed. The same key gives
the same pseudonym in every month, so tables join across months.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from sparkvalue.config import Settings, resolve_path


class MissingKeyError(RuntimeError):
    """No pseudonymisation key is configured."""


def load_key(settings: Settings) -> str:
    """The pseudonymisation key: `$<privacy.key_env>`, else the key file.

    In local development (`privacy.create_key_file: true`) a random key file is
    created on first use, readable by its owner only.
    """
    privacy = settings.privacy
    from_env = os.environ.get(privacy.key_env)
    if from_env:
        return from_env.strip()
    key_file = Path(resolve_path(privacy.key_file, settings.root))
    if key_file.is_file():
        return key_file.read_text().strip()
    if privacy.create_key_file:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
        return key_file.read_text().strip()
    raise MissingKeyError(
        f"no pseudonymisation key: set the environment variable {privacy.key_env} or write "
        f"the key to {key_file} (privacy.key_file)"
    )


def pseudonymise(column: str | Column, *, key: str, length: int = 20) -> Column:
    """Keyed hash of a subscriber number; null stays null."""
    col = F.col(column) if isinstance(column, str) else column
    digest = F.sha2(F.concat(F.lit(key), col.cast("string")), 256)
    return F.when(col.isNull(), F.lit(None).cast("string")).otherwise(F.substring(digest, 1, length))


def pseudonymise_value(value: str, *, key: str, length: int = 20) -> str:
    """The same pseudonym computed in Python, for one number typed by a person (the card)."""
    return hashlib.sha256((key + value).encode()).hexdigest()[:length]
