"""What the user's sessions used: cores, memory and GPUs over time, per launch.

From the launch records (the job writes when it started and when it exited, its launch record
says its cores, memory and GPUs), or, where the batch system keeps accounting, from the backend's
accounting (Backend.accounted), one question per backend for all jobs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ..jobs.backends import Accounted, get_backend
from .records import LaunchRecord
from .session import Session
from .status import last_sign_of_life


@dataclass(frozen=True)
class Use:
    """One launch's use of its allocation."""

    name: str
    launch: str
    backend: str
    job_id: str
    start: float
    end: float | None  # None: still running (counted until now)
    cpus: int
    mem_mb: int
    #: Why it ended, as its record says ("wall time reached", "notebook timeout: ..."); None: running.
    end_reason: str | None = None
    gpus: int = 0

    @property
    def hours(self) -> float:
        return max(0.0, ((self.end or time.time()) - self.start) / 3600)

    @property
    def core_hours(self) -> float:
        return self.cpus * self.hours

    @property
    def gb_hours(self) -> float:
        return self.mem_mb / 1024 * self.hours

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.hours


def _use(session: Session, record: LaunchRecord) -> Use | None:
    launch, job, start = record.launch(), record.job(), record.start()
    if not (launch and job and start):
        return None  # never submitted, or never started: nothing was used
    exited, end = record.exit(), record.end()
    if exited:
        ended = exited["exited"]  # the job's own last word: the most exact
    elif end:
        ended = end.get("ended") or last_sign_of_life(record, session.server_log)
    else:
        ended = None  # running: counted until now
    return Use(session.name, record.id, job["backend"], job["id"], start["started"], ended,
               launch["cpus_per_task"], launch["mem_mb"], (end or {}).get("reason"),
               # A record of before GPUs asked for none.
               launch.get("gpus", 0))


def from_records(sessions: list[Session], since: float | None = None) -> list[Use]:
    uses = [use for session in sessions for record in session.launches()
            if (use := _use(session, record)) is not None]
    return [use for use in uses if since is None or use.start >= since]


# --- the batch system's accounting -------------------------------------------------------------------
def from_accounting(uses: list[Use]) -> list[Use]:
    """``uses`` with each job's times, cores and memory as its backend's accounting has them
    (one question per backend)."""
    by_backend: dict[str, list[Use]] = {}
    for use in uses:
        by_backend.setdefault(use.backend, []).append(use)
    accounted = {}
    for name, of_backend in by_backend.items():
        for job_id, found in get_backend(name).accounted([use.job_id for use in of_backend]).items():
            accounted[(name, job_id)] = found
    return [_as_accounted(use, accounted.get((use.backend, use.job_id))) for use in uses]


def _as_accounted(use: Use, found: Accounted | None) -> Use:
    if found is None:
        return use
    # Accounting that does not count GPUs (no AccountingStorageTRES=gres/gpu) leaves the records'.
    return replace(use, start=found.start, end=found.end, cpus=found.cpus,
                   mem_mb=found.mem_mb or use.mem_mb, gpus=use.gpus if found.gpus is None else found.gpus)


def accounting_kept(uses: list[Use]) -> bool:
    """Does the backend of any of ``uses`` keep accounting? Each asked once at most."""
    return any(get_backend(name).keeps_accounting() for name in dict.fromkeys(use.backend for use in uses))


def accounting_names(uses: list[Use]) -> str:
    """What the backends of ``uses`` call their accounting, for the user to read."""
    names = [get_backend(name).accounting_name for name in dict.fromkeys(use.backend for use in uses)]
    return " and ".join(name for name in names if name) or "batch system's accounting"
