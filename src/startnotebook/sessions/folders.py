"""Where session folders live, and why the path to them can be trusted.

The sessions root comes from the site (``sessions_root``: "~", or e.g. "/scratch/$USER"). A session
folder is trusted by its whole path, in the spirit of OpenSSH's StrictModes: every folder from
``/`` to it belongs to root or to the user and nobody else may write to it (a group counts as
others: it may have other members than the user). Only then can nobody else rename a folder on
the path and put one of theirs in its place, under a launch or under the running server, which
finds its root, ``IPYTHONDIR`` and runtime folder by path. The one exception is a folder with the
sticky bit, such as /tmp or /scratch, that belongs to root or to the user: others may add entries
to it, but only an entry's owner may rename or remove it. A sessions root that others may write
to (sticky, then) gets a folder named after the user below it, made only where its own path is
trusted; the sessions go there.

Symbolic links on the path are followed the way the kernel follows them, one component at a time
(``os.lstat`` of each, the link's target walked in turn): every folder the walk passes through,
the link's own folder and its target's, must be trusted. A link in a trusted folder can be
changed only by its owner (root or the user), so a site's ``/home -> /export/home`` works, and a
link into a folder that others may change does not. The session folder itself, and the per-user
folder of a shared root, must be real folders of the user's: a link there is refused.

The job checks the whole path once more when it starts (``python -I -m startnotebook.sessions.folders
FOLDER``, on the node, outside any container: inside one, root's folders may show as nobody's),
and refuses to run where it no longer holds. Reading a session's own records (``list``, ``info``,
``stop``, ``logs``) needs only the folders to be the user's own: a path that stopped being trusted
after a launch must not keep the user from ending what runs there; launching there is refused.

Everything after the check gets the checked folder (a :class:`~startnotebook.sessions.session.Session`),
never the configured path again.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import re
import stat
import sys
from pathlib import Path

from ..errors import ConfigError, SessionFolderError

FOLDER_MODE = 0o700
#: As the kernel: more symbolic links than this on one path is a loop.
MAX_LINKS = 40
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


def owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def others_may_write(info: os.stat_result) -> bool:
    """Writable by anyone but its owner (a group may have other members than the user)."""
    return bool(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def who_else_may_change(info: os.stat_result, or_root: bool = False) -> str | None:
    """Who, besides this user (and root, if ``or_root``), may change what ``info`` describes:
    "belongs to bob", "may be written by the group staff", ...; None if nobody."""
    if info.st_uid not in ((os.getuid(), 0) if or_root else (os.getuid(),)):
        return f"belongs to {owner_name(info.st_uid)}"
    if info.st_mode & stat.S_IWOTH:
        return "may be written by everyone"
    if info.st_mode & stat.S_IWGRP:
        return f"may be written by the group {_group_name(info.st_gid)}"
    return None


def ours_alone(info: os.stat_result, or_root: bool = False) -> bool:
    """Made by this user (or by root, if ``or_root``) and changeable by nobody else: what may
    decide how the user's session runs (a profile, a project's config, an image)."""
    return who_else_may_change(info, or_root) is None


def _folder_problem(folder: Path, info: os.stat_result) -> str | None:
    """Why another user could rename or replace what is in ``folder``; None if nobody can."""
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a folder"
    if info.st_uid not in (os.getuid(), 0):
        return f"{folder} belongs to {owner_name(info.st_uid)}"
    if others_may_write(info) and not info.st_mode & stat.S_ISVTX:
        # (With the sticky bit only an entry's owner may rename or remove it.)
        return (f"{folder} (owner {owner_name(info.st_uid)}) {who_else_may_change(info, or_root=True)} "
                "and has no sticky bit")
    return None


def first_untrusted(path: Path, missing_ok: bool = False) -> tuple[Path, str] | None:
    """The first folder on the way from / to ``path`` (inclusive) that another user could change,
    and one line naming it and its owner; None if the whole path is trusted (module docstring).

    With ``missing_ok`` the path may end early: what exists of it is trusted or not.
    """
    pending = list(reversed(path.parts[1:]))
    current, links = Path("/"), 0
    problem = _folder_problem(current, os.lstat(current))
    while problem is None and pending:
        part = pending.pop()
        if part == "..":
            current = current.parent  # ``current`` is a real folder: its parent is the real one
            continue
        step = current / part
        try:
            info = os.lstat(step)
        except FileNotFoundError:
            return None if missing_ok else (step, f"{step} does not exist")
        except OSError as error:
            return step, f"{step} cannot be read: {_reason(error)}"
        if stat.S_ISLNK(info.st_mode):
            links += 1
            if links > MAX_LINKS:
                return step, f"{path} has too many symbolic links"
            target = Path(os.readlink(step))
            if target.is_absolute():
                current = Path("/")
            pending.extend(reversed([part for part in target.parts if part != "/"]))
            continue
        current = step
        problem = _folder_problem(current, info)
    return None if problem is None else (current, problem)


def _check_own_folder(path: Path, what: str) -> None:
    """``path`` exists as a real folder (not a symlink) that belongs to this user."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise SessionFolderError(f"{what} {path} is a symbolic link; refusing to follow it")
    if not stat.S_ISDIR(info.st_mode):
        raise SessionFolderError(f"{what} {path} exists and is not a folder")
    if info.st_uid != os.getuid():
        raise SessionFolderError(f"{what} {path} belongs to another user ({owner_name(info.st_uid)}); "
                                 "refusing to use it")


def _make_own_folder(path: Path, what: str) -> None:
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileExistsError:
        pass
    _check_own_folder(path, what)


def _make_folders(path: Path) -> None:
    """``path`` and the folders missing above it, private (a umask of 002 would leave them open
    to the group, and the path untrusted)."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            pass  # made meanwhile (by whom: the check that follows says)


def _check_trusted(path: Path, what: str, missing_ok: bool) -> None:
    found = first_untrusted(path, missing_ok)
    if found is None:
        return
    folder, problem = found
    if folder == path:
        raise SessionFolderError(f"{what} {problem}; refusing to keep sessions there")
    raise SessionFolderError(f"{what} {path} is not safe: {problem}; refusing to keep sessions there")


def sessions_root(configured: str, create: bool, trusted: bool = True) -> Path:
    """The folder session folders go into; a shared root gets a per-user folder below it.

    ``trusted``: the whole path must be trusted (to launch). Without it (to read a session's own
    records) the folders need only be what they claim to be.
    """
    root = expand(configured, "sessions_root")
    if trusted:
        # Before anything is made: nothing of the user's goes where another user could move it.
        _check_trusted(root, "sessions root", missing_ok=True)
    if create:
        try:
            _make_folders(root)
        except OSError as error:
            raise SessionFolderError(f"sessions root {root} cannot be made: {_reason(error)}") from error
        if trusted:  # and what was there already or made meanwhile, now that it all exists
            _check_trusted(root, "sessions root", missing_ok=False)
    try:
        info = os.stat(root)
    except FileNotFoundError:
        return root
    except OSError as error:
        raise SessionFolderError(f"sessions root {root} cannot be read: {_reason(error)}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise SessionFolderError(f"sessions root {root} is not a folder")
    if not others_may_write(info):
        return root
    own = root / user_name()
    try:
        if create:
            _make_own_folder(own, "sessions folder")
        elif os.path.lexists(own):
            _check_own_folder(own, "sessions folder")
    except OSError as error:
        raise SessionFolderError(f"sessions folder {own} cannot be made: {_reason(error)}") from error
    if trusted:
        _check_trusted(own, "sessions folder", missing_ok=not create)
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


def job_check(argv: list[str]) -> int:
    """The job's check before its server starts: ``python -I -m startnotebook.sessions.folders FOLDER``.

    One line in the server log and a non-zero exit if the path to the session folder is no longer
    trusted (a folder on it changed hands or mode since the launch checked it)."""
    if len(argv) != 1 or not argv[0].startswith("/"):
        print("usage: python -I -m startnotebook.sessions.folders SESSION_FOLDER", file=sys.stderr)
        return 2
    found = first_untrusted(Path(argv[0]))
    if found is None:
        return 0
    print(f"startnotebook: the path to the session folder is not safe: {found[1]}; refusing to "
          "start the server", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(job_check(sys.argv[1:]))
