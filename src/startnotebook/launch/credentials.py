"""Fresh credentials for every launch: a random password, of which Jupyter gets only the hash, and
a random proof key, with which the launch's server proves to our clients that it is that launch's
(an HMAC of their challenge, see client.py): both only in the launch's 0600 record, never on the
wire, never in a log."""

from __future__ import annotations

import secrets

from ..sessions.records import LaunchRecord, write_private

#: 18 random bytes: 144 bits, above the 96 asked for, in 24 URL-safe characters.
PASSWORD_BYTES = 18
PROOF_KEY_BYTES = 32


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str) -> str:
    """The argon2 hash PasswordIdentityProvider expects, made as jupyter_server.auth.passwd makes it
    (same parameters, "argon2:" prefix), without importing Jupyter's auth package (~0.15 s of a
    launch). tests/test_units.py checks that Jupyter accepts it."""
    import argon2

    return "argon2:" + argon2.PasswordHasher(memory_cost=10240, time_cost=10, parallelism=8).hash(password)


def write_new_password(record: LaunchRecord) -> None:
    write_private(record.password_file, new_password() + "\n")


def write_new_proof_key(record: LaunchRecord) -> None:
    write_private(record.proof_key_file, secrets.token_hex(PROOF_KEY_BYTES) + "\n")


def write_new_credentials(record: LaunchRecord) -> None:
    write_new_password(record)
    write_new_proof_key(record)
