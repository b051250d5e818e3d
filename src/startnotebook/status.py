"""What a user's sessions are doing: each session's state, from its records first.

A session's **state** is one of:

    pending   its launch is under way or its job waits in the queue
    running   its server is up
    ended     it stopped by itself (timeout, wall time) or was stopped
    failed    its launch or its job failed, its node was lost, its launch was killed
    unknown   its job's fate cannot be told from here right now (the controller does not answer)

The records answer for every session whose end is recorded (the job writes how it ended); the
backend is asked once, for all other sessions together: one ``squeue`` however many sessions, and
none when no record is live. A session found ended that way gets its end recorded and its
secrets removed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from .backends import Backend, JobStatus, get_backend
from .client import Impostor, Server, concurrently
from .errors import StartNotebookError
from .heartbeat import launch_waits
from .records import LaunchRecord
from .session import Session

LIVE = ("pending", "running")


@dataclass(frozen=True)
class SessionStatus:
    session: Session
    record: LaunchRecord | None
    state: str
    reason: str = ""
    job_status: JobStatus | None = None
    #: Its job ended but its server still answers (outside any allocation): stop ends it.
    orphan: bool = False

    @property
    def name(self) -> str:
        return self.session.name

    @property
    def live(self) -> bool:
        return self.state in LIVE

    # --- from the records: each file read once, when first asked (a status is one moment) ------
    def _read(self, what: str) -> dict:
        return (getattr(self.record, what)() or {}) if self.record else {}

    @cached_property
    def launched(self) -> dict:
        """What was launched (launch.json): flavour, resources, timeouts, backend, profile."""
        return self._read("launch")

    @cached_property
    def job(self) -> dict:
        return self._read("job")

    @cached_property
    def handover(self) -> dict:
        return self._read("handover")

    @cached_property
    def connection(self) -> dict:
        return self._read("connection") if self.state == "running" or self.orphan else {}

    @cached_property
    def end(self) -> dict:
        return self._read("end")

    @cached_property
    def activity(self) -> dict:
        return self._read("activity")

    @property
    def backend(self) -> str | None:
        return self.job.get("backend") or self.launched.get("backend")

    @property
    def started(self) -> float | None:
        return self.handover.get("started") or self.launched.get("created")

    @property
    def ended(self) -> float | None:
        return self.end.get("ended")

    @property
    def time_left(self) -> str | None:
        """Wall time left, as the batch system says it, while the session lives."""
        return (self.job_status.time_left or None) if self.job_status and self.live else None

    @property
    def seconds_left(self) -> int | None:
        """Wall time left in seconds, while the session lives."""
        return self.job_status.seconds_left if self.job_status and self.live else None

    @property
    def idle_seconds(self) -> float | None:
        since = self.activity.get("idle_since")
        if not since or self.state != "running":
            return None
        try:
            return max(0.0, time.time() - datetime.fromisoformat(since).timestamp())
        except ValueError:  # of the schema's shape, yet no date (a 13th month): not known
            return None


def last_sign_of_life(record: LaunchRecord, server_log: Path) -> float:
    """When a session that ended without a word was last seen alive (its newest file)."""
    times = []
    for path in (record.activity_file, record.handover_file, record.job_file, server_log):
        try:
            times.append(os.stat(path).st_mtime)
        except OSError:
            continue
    return max(times) if times else time.time()


def _from_records(session: Session, record: LaunchRecord | None) -> SessionStatus | None:
    """The state the records tell without asking anyone; None if the backend must be asked."""
    if record is None:
        return SessionStatus(session, None, "ended", "never launched")
    end = record.end()
    if end is not None:
        return SessionStatus(session, record, end.get("state", "ended"), end.get("reason", ""))
    if record.job() is None:
        damage = record.damage_of(record.job_file)
        if damage is not None:
            return _with_damaged_job(session, record, damage)
        if launch_waits(session, record):
            return SessionStatus(session, record, "pending", "launching")
        return _closed(session, record, "failed", "the launch ended before its job was submitted")
    return None


def answering_server(record: LaunchRecord) -> Server | None:
    """The server the record's handover names, if it answers and proves it is this launch's.

    The one place the damaged-record paths ask a server whether it lives (status and launching).
    """
    handover = record.handover()
    if handover is None:
        return None
    server = Server.from_handover(handover, record)
    return server if server.answers() else None


def _with_damaged_job(session: Session, record: LaunchRecord, damage: str) -> SessionStatus:
    """A launch whose job record cannot be read: running if its server still answers (its
    secrets kept, `stop` ends it through the server's API), otherwise ended, once."""
    server = answering_server(record)
    if server is not None:
        return SessionStatus(session, record, "running",
                             f"its job record is damaged ({damage}); its server still answers at "
                             f"{server.url}")
    if launch_waits(session, record):
        return SessionStatus(session, record, "pending", "launching")
    return _closed(session, record, "failed", f"its record is damaged ({damage})")


def _closed(session: Session, record: LaunchRecord, state: str, reason: str) -> SessionStatus:
    record.close(state, reason, ended=last_sign_of_life(record, session.server_log))
    return SessionStatus(session, record, state, reason)


def _launch_died(session: Session, record: LaunchRecord, status: JobStatus, backend: Backend) -> SessionStatus:
    """Its launch died before showing the URL, its job still queued or running: nobody will
    connect to it, so it is cancelled now (a running one would end itself within a minute, a
    pending one would hold its place in the queue and then an allocation nobody uses)."""
    job = record.job()
    reason = "its launch died before showing the URL"
    # Recorded first, as `stop` does: the job script keeps an end already recorded. A job that
    # cannot be cancelled now ends itself all the same (its heartbeat has stopped; a pending one
    # finds its record closed when it starts).
    _closed(session, record, "failed", reason)
    try:
        backend.cancel(job)
    except StartNotebookError as error:
        return SessionStatus(session, record, "failed", f"{reason}; job {job['id']} ({status}) could not "
                                                        f"be cancelled now ({error}): it ends itself", status)
    return SessionStatus(session, record, "failed", f"{reason}; job {job['id']} ({status}) was cancelled")


def _from_job(session: Session, record: LaunchRecord, status: JobStatus, backend: Backend) -> SessionStatus:
    if status.alive is None:
        return SessionStatus(session, record, "unknown", status.reason, status)
    connection = record.connection()
    # (A connection record that exists but is damaged was written: its launch showed the URL.)
    if status.in_queue and not record.connection_file.exists() and not launch_waits(session, record):
        return _launch_died(session, record, status, backend)
    if status.alive:
        handover = record.handover()
        if connection is not None and handover is not None:
            problem = Server.from_handover(handover, record).check()
            if problem is None:
                return SessionStatus(session, record, "running", "", status)
            # Its job runs but its server does not answer (or something else does): not running
            # (the next launch or `stop` ends the job), as launching.assess says.
            why = str(problem) if isinstance(problem, Impostor) else \
                f"its server no longer answers at {connection['url']}"
            return SessionStatus(session, record, "failed",
                                 f"{why} (job {record.job()['id']} is {status})", status)
        if launch_waits(session, record):  # (and ends the job if it gives up)
            return SessionStatus(session, record, "pending", status.reason or status.label.lower(), status)
        return SessionStatus(session, record, "failed",
                             f"its connection record is damaged; job {record.job()['id']} is {status}", status)
    if status.stuck:
        # Left open: its job waits in the queue for ever until the next launch or `stop` cancels it.
        return SessionStatus(session, record, "failed",
                             f"its job {record.job()['id']} can never start ({status})", status)
    handover = record.handover()
    problem = Server.from_handover(handover, record).check() if handover is not None else None
    if handover is not None and problem is None:
        # Its node was lost to SLURM, not its server: kept on record (with the password that
        # shuts it down) for the next launch or `stop` to end it.
        return SessionStatus(session, record, "failed",
                             f"its job ended ({status}) but its server still answers, outside any "
                             "allocation", status, orphan=True)
    # Someone else's process on its port is said as such: it is not the session's server.
    also = f"; {problem}" if isinstance(problem, Impostor) else ""
    if status.label in ("COMPLETED", "ENDED", "TIMEOUT") and record.connection() is not None:
        why = "wall time reached" if status.label == "TIMEOUT" else "the job ended"
        return _closed(session, record, "ended", why + also)
    return _closed(session, record, "failed", f"the job ended: {status}{also}")


def statuses(sessions: list[Session], backend_name: str) -> list[SessionStatus]:
    """The state of each session, with one question to the backend at most for all of them."""
    latest = {session.name: session.latest() for session in sessions}
    told = {session.name: _from_records(session, latest[session.name]) for session in sessions}
    asking = [session for session in sessions if told[session.name] is None]
    jobs = [latest[session.name].job() for session in asking]
    if jobs:
        by_backend: dict[str, list[dict]] = {}
        for job in jobs:
            by_backend.setdefault(job.get("backend", backend_name), []).append(job)
        answers: dict[tuple[str, str], JobStatus] = {}
        for name, group in by_backend.items():
            for job_id, status in get_backend(name).statuses(group).items():
                answers[(name, job_id)] = status
        backends = {name: get_backend(name) for name in by_backend}

        def from_job(asked: tuple[Session, dict]) -> SessionStatus:
            session, job = asked
            name = job.get("backend", backend_name)
            return _from_job(session, latest[session.name], answers[(name, job["id"])], backends[name])

        # Each live session's server is asked its proof: all at once, not one after the other.
        for session, status in zip(asking, concurrently(from_job, list(zip(asking, jobs, strict=True))),
                                   strict=True):
            told[session.name] = status
    return [told[session.name] for session in sessions]


def status_of(session: Session, backend_name: str) -> SessionStatus:
    return statuses([session], backend_name)[0]
