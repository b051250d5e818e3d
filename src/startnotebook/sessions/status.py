"""What a user's sessions are doing: each session's state, as :mod:`startnotebook.sessions.judgement` judges it.

The records answer for every session whose end is recorded (the job writes how it ended); the
backend is asked once, for all other sessions together: one question to the batch system however
many sessions, and none when no record is live. Each live session's server is asked its proof, all
at once. What the judgement says anyone may end at once (a launch that died before showing its
URL, a job found ended) is ended here: its end recorded, its secrets removed, its job cancelled.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from ..errors import StartNotebookError
from ..jobs.backends import Backend, JobStatus, get_backend
from .client import concurrently
from .judgement import LIVE, RUNNING, Answer, LaunchFacts, Retirement, answer_of, facts_of, judge, needs_answer
from .records import LaunchRecord
from .session import Session


@dataclass(frozen=True)
class SessionStatus:
    session: Session
    record: LaunchRecord | None
    state: str
    reason: str = ""
    job_status: JobStatus | None = None
    #: What is left of it for a new launch or `stop` to end (a job, a server outside any job).
    left: Retirement | None = None

    @property
    def orphan(self) -> bool:
        """Its job ended but its server still answers (outside any allocation): stop ends it."""
        return self.left is not None and self.left.shut_down

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
        return self._read("connection") if self.state == RUNNING or self.orphan else {}

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
        if not since or self.state != RUNNING:
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


def _judged(session: Session, record: LaunchRecord | None, facts: LaunchFacts, job: JobStatus | None,
            answer: Answer | None, backend: Backend | None) -> SessionStatus:
    """The session's status as the judgement says, with what anyone may end ended now."""
    judgement = judge(facts, job, answer)
    retire = judgement.retire
    if retire is None or not retire.now:
        return SessionStatus(session, record, judgement.state, judgement.reason, job, left=retire)
    # Recorded first, as `stop` does: the job script keeps an end already recorded. A job that
    # cannot be cancelled now ends itself all the same (its heartbeat has stopped; a pending one
    # finds its record closed when it starts).
    record.close(judgement.state, judgement.reason, ended=last_sign_of_life(record, session.server_log))
    reason = judgement.reason
    if retire.cancel is not None:
        try:
            backend.cancel(retire.cancel)
            reason += f"; job {retire.cancel['id']} ({job}) was cancelled"
        except StartNotebookError as error:
            reason += f"; job {retire.cancel['id']} ({job}) could not be cancelled now ({error}): it ends itself"
            # ... or `stop` cancels it.
            return SessionStatus(session, record, judgement.state, reason, job,
                                 left=Retirement(cancel=retire.cancel, now=False))
    return SessionStatus(session, record, judgement.state, reason, job)


def statuses(sessions: list[Session], backend_name: str) -> list[SessionStatus]:
    """The state of each session, with one question to the backend at most for all of them."""
    latest = [session.latest() for session in sessions]
    facts = [facts_of(session, record) for session, record in zip(sessions, latest, strict=True)]
    jobs = [fact.job if fact.job is not None and fact.end is None else None for fact in facts]
    by_backend: dict[str, list[dict]] = {}
    for job in jobs:
        if job is not None:
            by_backend.setdefault(job.get("backend", backend_name), []).append(job)
    backends = {name: get_backend(name) for name in by_backend}
    answers: dict[tuple[str, str], JobStatus] = {}
    for name, group in by_backend.items():
        for job_id, status in backends[name].statuses(group).items():
            answers[(name, job_id)] = status

    def status(index: int) -> SessionStatus:
        job, record = jobs[index], latest[index]
        name = job.get("backend", backend_name) if job is not None else None
        answer = answer_of(record) if needs_answer(facts[index]) else None
        return _judged(sessions[index], record, facts[index],
                       answers[(name, job["id"])] if job is not None else None, answer,
                       backends.get(name) if job is not None else None)

    # Each live session's server is asked its proof: all at once, not one after the other.
    return concurrently(status, list(range(len(sessions))))


def status_of(session: Session, backend_name: str) -> SessionStatus:
    return statuses([session], backend_name)[0]
