"""Waiting for a submitted job's server: learnt from what the job writes, not from the controller.

The job writes ``handover.json`` once its server listens (and ``end.json`` if it ends): both are
looked at every ``FILE_POLL_SECONDS``. The backend (for SLURM, the controller) is asked only on its
own slow, jittered schedule (Backend.check_delays): to show why a job waits, and to notice one
that died without writing anything. A controller that does not answer meanwhile is no reason to
give up: the job may still start and write its handover.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from ..errors import LaunchInterrupted, ServerFailed
from ..jobs.backends import UNKNOWN, Backend, JobStatus
from ..sessions.client import Server
from ..sessions.records import LaunchRecord

FILE_POLL_SECONDS = 0.05
LOG_TAIL_LINES = 12

#: Set when the user interrupts (Ctrl-C): every wait of this process stops.
INTERRUPTED = threading.Event()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES, since: str | None = None) -> str:
    """The last lines of a log (of one launch, if ``since`` marks where that launch began)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    if since and since in text:
        text = text[text.rindex(since):]
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in tail) or f"(empty log at {path})"


def log_since(path: Path, offset: int) -> bytes:
    """What ``path`` (a log being written) holds from ``offset`` on; nothing if it is not there."""
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            return stream.read()
    except FileNotFoundError:
        return b""


def wait_for_server(record: LaunchRecord, job: dict, backend: Backend, timeout: float,
                    server_log: Path, on_status=lambda status: None) -> dict:
    """The handover of this launch's server once it answers; ServerFailed if it never will."""
    deadline = time.monotonic() + timeout
    delays = backend.check_delays()
    next_check = time.monotonic() + next(delays)
    status = JobStatus(UNKNOWN, "SUBMITTED")
    while True:
        if INTERRUPTED.is_set():
            raise LaunchInterrupted("interrupted while waiting for the notebook URL; the job was cancelled")
        handover = record.handover()
        if handover is not None and Server.from_handover(handover, record).answers():
            return handover
        end = record.end()
        if end is not None:
            raise ServerFailed(
                f"the notebook server ended before its URL was known ({end.get('reason')}); the end of "
                f"its log ({server_log}):\n{log_tail(server_log, since=f'launch {record.id}')}"
            )
        now = time.monotonic()
        if now >= next_check:
            status = backend.status(job)
            on_status(status)
            next_check = now + next(delays)
            if status.stuck:
                raise ServerFailed(f"job {job['id']} is {status}; it was cancelled")
            if status.alive is False:
                raise ServerFailed(
                    f"the notebook job ended ({status}) before its URL was known; the end of its log "
                    f"({server_log}):\n{log_tail(server_log, since=f'launch {record.id}')}"
                )
        if now >= deadline:
            status = backend.status(job)  # the reason it still waits, for the message
            raise ServerFailed(
                f"no notebook URL after {timeout:.0f} s (job {job['id']}: {status}); the job was cancelled"
            )
        INTERRUPTED.wait(FILE_POLL_SECONDS)


def stop_waiting_on_interrupt() -> None:
    """From now on Ctrl-C (and SIGTERM) also stops every wait of this process.

    Snakemake answers Ctrl-C by waiting for its running jobs; a launch's wait for the URL is one
    of them, and must end too (its job is then cancelled, see LaunchPlan.abandon). Only the main
    thread may install signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if getattr(previous, "stops_waiting", False):
            continue

        def handler(number, frame, previous=previous):
            INTERRUPTED.set()
            if callable(previous):
                previous(number, frame)
            else:
                raise KeyboardInterrupt

        handler.stops_waiting = True
        signal.signal(signum, handler)
