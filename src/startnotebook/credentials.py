"""Fresh credentials for every launch: a random password; Jupyter gets only its hash."""

from __future__ import annotations

import secrets

from .records import LaunchRecord, write_private

#: 18 random bytes: 144 bits, above the 96 asked for, in 24 URL-safe characters.
PASSWORD_BYTES = 18


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str) -> str:
    """Jupyter Server's own (argon2) hash, the form PasswordIdentityProvider expects."""
    from jupyter_server.auth import passwd

    return passwd(password)


def write_new_password(record: LaunchRecord) -> None:
    write_private(record.password_file, new_password() + "\n")
