"""The session folder ~/NAME: what lives where, and making it ready for a launch.

    ~/NAME/                     the user's notebooks and files (root_dir of Jupyter, HOME of the job)
      .jupyter/ .ipython/ .local/ .config/      Jupyter, IPython and pip state of the session
      .jupyter/startnotebook_config.json        Jupyter settings of the current launch
      .startnotebook/                           startnotebook's own state, mode 0700
        request.yaml                            the session as `startnotebook` declared it
        launch/                                 the current launch, removed once it has ended
          session.json  password  job.json  job-state  handover.json  connection.json  failure.txt
        logs/server.log  logs/workflow.log

Nothing outside .startnotebook/ and .jupyter/startnotebook_config.json is ever written or removed
by startnotebook, so relaunching a name keeps every file of the user's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SessionFolderError

DOT_FOLDERS = (".jupyter", ".ipython", ".local", ".config")


@dataclass(frozen=True)
class SessionPaths:
    folder: Path

    @property
    def state(self) -> Path:
        return self.folder / ".startnotebook"

    @property
    def request(self) -> Path:
        return self.state / "request.yaml"

    @property
    def launch(self) -> Path:
        return self.state / "launch"

    @property
    def settings(self) -> Path:
        return self.launch / "session.json"

    @property
    def password(self) -> Path:
        return self.launch / "password"

    @property
    def job(self) -> Path:
        return self.launch / "job.json"

    @property
    def handover(self) -> Path:
        return self.launch / "handover.json"

    @property
    def job_state(self) -> Path:
        """The job's latest state as the waiting step saw it, for the launch to show."""
        return self.launch / "job-state"

    @property
    def connection(self) -> Path:
        return self.launch / "connection.json"

    @property
    def failure(self) -> Path:
        return self.launch / "failure.txt"

    @property
    def jupyter_config(self) -> Path:
        return self.folder / ".jupyter" / "startnotebook_config.json"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def workflow_log(self) -> Path:
        return self.logs / "workflow.log"


def make_folders(paths: SessionPaths) -> None:
    """Create the session folder and its state folders (an existing folder is kept as it is)."""
    try:
        if paths.folder.exists() and not paths.folder.is_dir():
            raise SessionFolderError(f"session folder {paths.folder} exists and is not a folder")
        paths.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Notebooks and the session's secrets are the user's alone, on a shared file system too.
        paths.folder.chmod(0o700)
        for name in DOT_FOLDERS:
            (paths.folder / name).mkdir(mode=0o700, exist_ok=True)
        # Not launch/: a concurrent launch may be removing an ended one (forget_launch), and
        # Snakemake makes it for the first file of the next launch, inside the private state/.
        for private in (paths.state, paths.logs):
            private.mkdir(mode=0o700, exist_ok=True)
            # Passwords live below: an existing folder may have been made with a wider mode.
            private.chmod(0o700)
        # A probe of its own per process: two launches of one name may check at the same time.
        tempfile.TemporaryFile(dir=paths.state).close()
    except OSError as error:
        reason = error.strerror or str(error)
        raise SessionFolderError(f"session folder {paths.folder} cannot be written: {reason}") from error


def forget_launch(paths: SessionPaths) -> None:
    """Remove the files of an ended launch (never anything of the user's)."""
    shutil.rmtree(paths.launch, ignore_errors=True)


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only; the mode is set before any byte is written."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    os.replace(tmp, path)
