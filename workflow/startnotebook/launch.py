"""The launch command: run the workflow target notebook_NAME, then print URL and password."""

from __future__ import annotations

import fcntl
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import yaml

from . import state, workflow_run
from .backends import get_backend
from .connection import log_tail
from .errors import LaunchInProgress, LaunchInterrupted, ServerFailed
from .report import already_running, connection_banner
from .request import LaunchRequest, ResolvedLaunch, resolve
from .session import SessionPaths, make_folders, write_private_text

PROGRESS_SECONDS = 1.0
POLL_SECONDS = 0.2


class Progress:
    """Shows that the launch is alive: a dot a second, or (verbose) the background output."""

    def __init__(self, paths: SessionPaths, out: TextIO, verbose: bool):
        self.paths, self.out, self.verbose = paths, out, verbose
        self.offsets: dict[Path, int] = {}
        self.last_dot = time.monotonic()
        self.job_state = ""

    def tick(self) -> None:
        if self.verbose:
            self._stream(self.paths.workflow_log, "workflow")
            self._stream(self.paths.server_log, "server")
        elif time.monotonic() - self.last_dot >= PROGRESS_SECONDS:
            self.out.write(".")
            self.last_dot = time.monotonic()
        self._show_job_state()
        self.out.flush()

    def _show_job_state(self) -> None:
        """Show each change of the job's state; a job that simply runs at once needs no word."""
        try:
            current = self.paths.job_state.read_text().strip()
        except FileNotFoundError:
            return
        if current != self.job_state and (current != "RUNNING" or self.job_state):
            self.out.write(f"\n  job: {current}\n")
        self.job_state = current

    def _stream(self, path: Path, label: str) -> None:
        try:
            with open(path, "rb") as stream:
                stream.seek(self.offsets.get(path, 0))
                chunk = stream.read()
                self.offsets[path] = stream.tell()
        except FileNotFoundError:
            return
        for line in chunk.decode(errors="replace").splitlines():
            self.out.write(f"[{label}] {line}\n")


def _failure(paths: SessionPaths) -> ServerFailed:
    try:
        return ServerFailed(paths.failure.read_text().strip())
    except FileNotFoundError:
        return ServerFailed(
            f"the launch workflow failed; the end of its log ({paths.workflow_log}):\n"
            + log_tail(paths.workflow_log)
        )


def _cancel_unfinished_launch(paths: SessionPaths) -> None:
    """A launch that did not reach its connection file must leave no job behind."""
    job = state.read_json(paths.job)
    if job is not None and not paths.connection.exists():
        get_backend(job["backend"]).cancel(job)


def _run_workflow(launch: ResolvedLaunch, progress: Progress) -> None:
    paths = launch.paths
    command = workflow_run.snakemake_command(
        f"notebook_{launch.settings.name}",
        [*launch.configfiles, paths.request],
        launch.profile,
        workdir=paths.state,
    )
    process = workflow_run.start(command, paths.workflow_log)
    try:
        while process.poll() is None:
            progress.tick()
            time.sleep(POLL_SECONDS)
        progress.tick()
    except KeyboardInterrupt:
        workflow_run.interrupt(process)
        _cancel_unfinished_launch(paths)
        raise LaunchInterrupted("interrupted while waiting for the notebook URL; the job was cancelled")
    if process.returncode != 0:
        _cancel_unfinished_launch(paths)
        raise _failure(paths)


@contextmanager
def exclusive_launch(paths: SessionPaths, name: str):
    """One launch of a session at a time. The lock goes with the process, even a killed one."""
    with open(paths.state / "launch.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LaunchInProgress(f"another launch of {name} is in progress") from None
        yield


def run(request: LaunchRequest, verbose: bool = False, as_json: bool = False, out: TextIO = sys.stdout) -> int:
    launch = resolve(request)
    paths = launch.paths
    make_folders(paths)
    with exclusive_launch(paths, launch.settings.name):
        return _launch_unless_running(launch, verbose, as_json, out)


def _launch_unless_running(launch: ResolvedLaunch, verbose: bool, as_json: bool, out: TextIO) -> int:
    paths = launch.paths
    running = state.live_connection(paths)
    if running is not None:
        out.write((json.dumps(running, indent=2) if as_json else already_running(running)) + "\n")
        return 0
    write_private_text(paths.request, yaml.safe_dump(launch.declaration))
    # --json keeps stdout for the JSON alone.
    chatter = sys.stderr if as_json else out
    chatter.write("Starting Notebook.\nDetermining Notebook url")
    chatter.flush()
    try:
        _run_workflow(launch, Progress(paths, chatter, verbose))
    finally:
        chatter.write("\n")
        chatter.flush()
    connection = state.read_json(paths.connection)
    out.write((json.dumps(connection, indent=2) if as_json else connection_banner(connection)) + "\n")
    return 0
