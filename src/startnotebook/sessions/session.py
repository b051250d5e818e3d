"""A session: a name, its checked folder, and the records of its launches.

    <sessions_root>/NAME/        the user's notebooks and files (Jupyter's root, HOME of the job)
      .jupyter/ .ipython/ .local/ .config/     Jupyter, IPython and pip state of the session
      .startnotebook/                          startnotebook's own files, mode 0700
        lock                                   held by the launch (or stop) in progress
        launches/<id>/                         one launch's records (see records.py)
        logs/server.log  logs/workflow.log     appended by every launch, never truncated
        tls/                                   the session's own certificate and key
        snakemake/                             Snakemake's working folder for a launch

Nothing outside .startnotebook/ is ever written or removed by startnotebook but the dot folders
above (made if missing) and notebooks a session brings that are not there yet.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import SessionFolderError
from ..settings.config import Site
from . import folders
from .records import LAUNCH_ID, LaunchRecord, new_launch_id

DOT_FOLDERS = (".jupyter", ".ipython", ".local", ".config")
PRIVATE = ".startnotebook"
#: Room a launch needs in the session folder (its records and logs take a few hundred KB).
MIN_FREE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Session:
    """One session folder, checked (see folders.py) when the object was made."""

    name: str
    folder: Path
    #: The folder's inode when it was checked: the job refuses to run in any other folder.
    inode: int | None = None

    @classmethod
    def find(cls, site: Site, name: str, to_launch: bool = True) -> "Session":
        """The session ``name``, its folder checked if it exists; a lookup makes nothing.

        To launch, the whole path to the folder must be trusted (folders.py). Not to read and end
        what runs there (``to_launch=False``: list, info, stop, logs): the folders and records are
        still the user's own, and a path that stopped being trusted after the launch must not keep
        the user from stopping their own session.
        """
        return cls._checked(site, name, create=False, to_launch=to_launch)

    @classmethod
    def create(cls, site: Site, name: str) -> "Session":
        """The session ``name``, its folder (and the sessions root) made if missing, and checked
        (its whole path trusted: it is made to launch)."""
        return cls._checked(site, name, create=True, to_launch=True)

    @classmethod
    def _checked(cls, site: Site, name: str, create: bool, to_launch: bool) -> "Session":
        root = folders.sessions_root(site.sessions_root, create, trusted=to_launch)
        folder = folders.session_folder(root, name, create)
        try:
            inode = os.lstat(folder).st_ino
        except FileNotFoundError:
            inode = None
        return cls(name, folder, inode)

    @property
    def exists(self) -> bool:
        return (self.folder / PRIVATE).is_dir()

    # --- where ---------------------------------------------------------------------------------
    @property
    def private(self) -> Path:
        return self.folder / PRIVATE

    @property
    def launches_folder(self) -> Path:
        return self.private / "launches"

    @property
    def logs(self) -> Path:
        return self.private / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def workflow_log(self) -> Path:
        return self.logs / "workflow.log"

    @property
    def tls_folder(self) -> Path:
        return self.private / "tls"

    @property
    def snakemake_folder(self) -> Path:
        return self.private / "snakemake"

    # --- launches ------------------------------------------------------------------------------
    def launches(self) -> list[LaunchRecord]:
        """This session's launch records, oldest first."""
        try:
            entries = sorted(entry for entry in os.listdir(self.launches_folder) if LAUNCH_ID.fullmatch(entry))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise SessionFolderError(f"cannot read {self.launches_folder}: {error.strerror}") from error
        return [LaunchRecord(self.launches_folder / entry) for entry in entries]

    def latest(self) -> LaunchRecord | None:
        launches = self.launches()
        return launches[-1] if launches else None

    def new_launch(self) -> LaunchRecord:
        """The record of a new launch (its folder is made by the launch's first rule)."""
        return LaunchRecord(self.launches_folder / new_launch_id())

    # --- making it ready -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Make the folders a launch writes to (an existing folder is kept as it is)."""
        try:
            for name in DOT_FOLDERS:
                (self.folder / name).mkdir(mode=0o700, exist_ok=True)
            for private in (self.private, self.launches_folder, self.logs):
                private.mkdir(mode=0o700, exist_ok=True)
                if private.is_symlink():
                    raise SessionFolderError(f"{private} is a symbolic link; refusing to follow it")
            # Passwords live below: a folder made earlier may have a wider mode.
            os.chmod(self.private, 0o700)
            free = os.statvfs(self.folder)
        except OSError as error:
            raise SessionFolderError(
                f"session folder {self.folder} cannot be written: {error.strerror or error}"
            ) from error
        if free.f_bavail * free.f_frsize < MIN_FREE_BYTES:
            # Refused before anything is written: a launch half-written on a full disk would
            # leave damaged records behind.
            raise SessionFolderError(f"session folder {self.folder} is full "
                                     f"({free.f_bavail * free.f_frsize // 1024} KB free)")

    @property
    def lock_file(self) -> Path:
        return self.private / "lock"

    def hold_launch_lock(self, on_wait=None) -> int:
        """One launch or ``stop`` of a session at a time: this process's, until it closes the
        returned fd or ends (even killed: the lock dies with it).

        Taken on the login side only: the job on its node never takes it (locks on a shared file
        system may be node-local). ``on_wait()`` is called once if another process holds the
        lock; this one then waits for it.
        """
        try:
            fd = os.open(self.lock_file, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise SessionFolderError(
                f"session folder {self.folder} cannot be written: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        _held_here.add(str(self.lock_file))
        return fd

    def release_launch_lock(self, fd: int) -> None:
        _held_here.discard(str(self.lock_file))
        os.close(fd)

    @contextmanager
    def launch_lock(self, on_wait=None):
        fd = self.hold_launch_lock(on_wait)
        try:
            yield
        finally:
            self.release_launch_lock(fd)

    def launch_in_progress(self) -> bool:
        """Does another process (a launch, or a ``stop``) hold the lock right now?

        Never this process's own lock: a ``stop`` holding it asks about the launch it found.
        """
        if str(self.lock_file) in _held_here:
            return False
        try:
            fd = os.open(self.lock_file, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


#: The lock files this process holds (Session.hold_launch_lock).
_held_here: set[str] = set()


def sessions(site: Site) -> list[Session]:
    """The user's sessions: the folders under the sessions root that hold startnotebook records
    (to read, not to launch: see :meth:`Session.find`)."""
    root = folders.sessions_root(site.sessions_root, create=False, trusted=False)
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and os.path.isdir(os.path.join(entry.path, PRIVATE)):
            found.append(Session(entry.name, Path(entry.path)))
    return found
