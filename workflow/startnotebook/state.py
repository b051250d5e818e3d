"""Is a session's server still running? Read from the launch files and the backend's word."""

from __future__ import annotations

import json
from pathlib import Path

from .backends import JobState, get_backend
from .session import SessionPaths, forget_launch


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def job_state(paths: SessionPaths) -> JobState | None:
    """The state of the launch's job, or None when no job was submitted."""
    job = read_json(paths.job)
    if job is None:
        return None
    return get_backend(job["backend"]).state(job)


def live_connection(paths: SessionPaths) -> dict | None:
    """The connection of a server that is running now, else None."""
    connection = read_json(paths.connection)
    if connection is None:
        return None
    state = job_state(paths)
    return connection if state is not None and state.alive else None


def forget_if_ended(paths: SessionPaths) -> None:
    """Drop the files of a launch whose job has ended, so that the next launch starts afresh.

    A job whose state cannot be told from here (another host, no controller) is left alone.
    """
    if not paths.launch.exists():
        return
    state = job_state(paths)
    if state is None or state.alive is False:
        forget_launch(paths)
