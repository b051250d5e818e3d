"""Where session folders live, checked once: never through a symlink, always the user's own.

The sessions root comes from the site (``sessions_root``: "~", or e.g. "/scratch/$USER"). A root
that others may write to must carry the sticky bit (as /tmp and /scratch do): nobody can then
rename or replace what another user made there; the sessions go into a folder named after the
user below it. A session folder that is a symlink, not a folder, or someone else's is refused: a
launch that followed it would write its secrets where another user chose, or run their code.

Everything after the check gets the checked folder (a :class:`~startnotebook.session.Session`),
never the configured path again.
"""

from __future__ import annotations

import getpass
import os
import re
import stat
from pathlib import Path

from .errors import ConfigError, SessionFolderError

FOLDER_MODE = 0o700
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def user_name() -> str:
    return os.environ.get("USER") or getpass.getuser()


def expand(configured: str, setting: str) -> Path:
    """A path setting with "~", $USER and other environment variables expanded; one that names
    a variable that is not set is an error, not a folder called "$X"."""
    variables = {**os.environ, "USER": user_name()}

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ConfigError(f"{setting} {configured!r} names ${name}, which is not set")
        return variables[name]

    path = Path(_VARIABLE.sub(value, os.path.expanduser(configured)))
    if not path.is_absolute():
        raise ConfigError(f"{setting} {configured!r} is not an absolute path")
    return path


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _check_own_folder(path: Path, what: str) -> None:
    """``path`` exists as a real folder (not a symlink) that belongs to this user."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise SessionFolderError(f"{what} {path} is a symbolic link; refusing to follow it")
    if not stat.S_ISDIR(info.st_mode):
        raise SessionFolderError(f"{what} {path} exists and is not a folder")
    if info.st_uid != os.getuid():
        raise SessionFolderError(f"{what} {path} belongs to another user; refusing to use it")


def _make_own_folder(path: Path, what: str) -> None:
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileExistsError:
        pass
    _check_own_folder(path, what)


def others_may_write(info: os.stat_result) -> bool:
    """Writable by anyone but its owner (a group may have other members than the user)."""
    return bool(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def ours_alone(info: os.stat_result, or_root: bool = False) -> bool:
    """Made by this user (or by root, if ``or_root``) and changeable by nobody else: what may
    decide how the user's session runs (a profile, a project's config, an image)."""
    return info.st_uid in ((os.getuid(), 0) if or_root else (os.getuid(),)) and not others_may_write(info)


def sessions_root(configured: str, create: bool) -> Path:
    """The folder session folders go into; a shared root gets a per-user folder below it."""
    root = expand(configured, "sessions_root")
    try:
        info = os.stat(root)
    except FileNotFoundError:
        if not create:
            return root
        try:
            root.mkdir(mode=FOLDER_MODE, parents=True)
        except OSError as error:
            raise SessionFolderError(f"sessions root {root} cannot be made: {_reason(error)}") from error
        return root
    except OSError as error:
        raise SessionFolderError(f"sessions root {root} cannot be read: {_reason(error)}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise SessionFolderError(f"sessions root {root} is not a folder")
    if not others_may_write(info):
        return root
    if not info.st_mode & stat.S_ISVTX:
        raise SessionFolderError(
            f"sessions root {root} may be written by others and has no sticky bit: refusing to "
            "keep sessions there"
        )
    own = root / user_name()
    try:
        if create:
            _make_own_folder(own, "sessions folder")
        elif os.path.lexists(own):
            _check_own_folder(own, "sessions folder")
    except OSError as error:
        raise SessionFolderError(f"sessions folder {own} cannot be made: {_reason(error)}") from error
    return own


def session_folder(root: Path, name: str, create: bool) -> Path:
    """The checked folder of session ``name`` (made, private, when ``create``)."""
    folder = root / name
    try:
        if create:
            _make_own_folder(folder, "session folder")
            # Notebooks and the session's secrets are the user's alone, on a shared file system
            # too. (Checked a moment ago: not a symlink.)
            os.chmod(folder, FOLDER_MODE)
        elif os.path.lexists(folder):
            _check_own_folder(folder, "session folder")
    except SessionFolderError:
        raise
    except OSError as error:
        raise SessionFolderError(f"session folder {folder} cannot be written: {_reason(error)}") from error
    return folder
