"""What a session name may be: only what every layer it passes through accepts.

A name becomes a folder name (under sessions_root), a SLURM job name and part of the paths in the
job's sbatch options (where SLURM expands ``%``), part of a Snakemake target ``notebook_NAME``
(where ``{...}`` is a wildcard) and of URLs and terminal output (where invisible or text-direction
characters would mislead). ASCII letters, digits, ``.``, ``_`` and ``-`` pass all of them.
"""

from __future__ import annotations

import re
import secrets
import string
import unicodedata

from ..errors import InvalidRequest

NAME_MAX = 64
ALLOWED = "letters, digits, '.', '_' and '-'"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits

#: Characters refused with a reason of their own (the rest get the general one).
_WHY = {
    "/": "contains '/'",
    "%": "contains '%', which SLURM expands in file names",
    "{": "contains '{', which Snakemake reads as a wildcard",
    "}": "contains '}', which Snakemake reads as a wildcard",
}


def random_name() -> str:
    return "notebook-" + "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(8))


def _unseen(character: str) -> bool:
    """Invisible (format) characters, such as zero-width spaces and text-direction overrides."""
    return unicodedata.category(character) == "Cf"


def check_name(name: str) -> str:
    """``name`` if it can be a session name, else InvalidRequest with the reason."""
    if not name:
        raise InvalidRequest("the session name is empty")
    shown = repr(name)
    if len(name) > NAME_MAX:
        raise InvalidRequest(f"the session name is longer than {NAME_MAX} characters")
    for character in name:
        if character in _WHY:
            raise InvalidRequest(f"the session name {shown} {_WHY[character]}")
        if _unseen(character):
            raise InvalidRequest(
                f"the session name {shown} contains an invisible or text-direction character "
                f"(U+{ord(character):04X})"
            )
        if character.isspace() or unicodedata.category(character) == "Cc":
            raise InvalidRequest(f"the session name {shown} contains whitespace or a control character")
    if not name[0].isascii() or not name[0].isalnum():
        raise InvalidRequest(f"the session name {shown} starts with '{name[0]}'; it starts with a "
                             "letter or a digit")
    if not _NAME.fullmatch(name):
        bad = next(character for character in name if not re.fullmatch(r"[A-Za-z0-9._-]", character))
        raise InvalidRequest(f"the session name {shown} contains {bad!r}; use {ALLOWED}")
    return name
