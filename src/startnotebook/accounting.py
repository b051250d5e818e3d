"""What the user's sessions used: cores and memory over time, per launch.

From the launch records (the job writes when it started and when it exited, its launch record
says its cores and memory), or, where the cluster keeps accounting (slurmdbd), from ``sacct``
for SLURM jobs: one call for all of them. ``sacct`` is only asked where the controller says
accounting is kept; without slurmdbd it would hang.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import datetime

from .backends.slurm import CONTROLLER_TIMEOUT
from .errors import ControllerUnreachable
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

    @property
    def hours(self) -> float:
        return max(0.0, ((self.end or time.time()) - self.start) / 3600)

    @property
    def core_hours(self) -> float:
        return self.cpus * self.hours

    @property
    def gb_hours(self) -> float:
        return self.mem_mb / 1024 * self.hours


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
               launch["cpus_per_task"], launch["mem_mb"])


def from_records(sessions: list[Session], since: float | None = None) -> list[Use]:
    uses = [use for session in sessions for record in session.launches()
            if (use := _use(session, record)) is not None]
    return [use for use in uses if since is None or use.start >= since]


# --- SLURM's accounting ------------------------------------------------------------------------------
def accounting_kept() -> bool:
    """Does the cluster keep accounting (slurmdbd)? One question to the controller."""
    try:
        result = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                                timeout=CONTROLLER_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    match = re.search(r"^AccountingStorageType\s*=\s*(\S+)", result.stdout, re.M)
    return bool(match) and match.group(1) == "accounting_storage/slurmdbd"


def _memory_mb(tres: str) -> int | None:
    match = re.search(r"mem=([0-9.]+)([KMGT]?)", tres)
    if not match:
        return None
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[match.group(2)]
    return round(float(match.group(1)) * factor)


def _slurm_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None  # "Unknown" (still running) or "None"


def from_accounting(uses: list[Use]) -> list[Use]:
    """``uses`` with SLURM jobs' times, cores and memory as ``sacct`` has them (one call)."""
    slurm = {use.job_id: use for use in uses if use.backend == "slurm"}
    if not slurm:
        return uses
    try:
        result = subprocess.run(
            ["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", ",".join(slurm),
             "--format=JobIDRaw,Start,End,AllocCPUS,AllocTRES"],
            capture_output=True, text=True, timeout=CONTROLLER_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise ControllerUnreachable("SLURM's accounting (sacct) did not answer") from error
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ControllerUnreachable(f"sacct failed: {message}")
    accounted = {}
    for line in result.stdout.splitlines():
        job_id, start, end, cpus, tres = line.split("|")
        use = slurm.get(job_id)
        started = _slurm_time(start)
        if use is None or started is None:
            continue
        accounted[job_id] = replace(use, start=started, end=_slurm_time(end), cpus=int(cpus),
                                    mem_mb=_memory_mb(tres) or use.mem_mb)
    return [accounted.get(use.job_id, use) if use.backend == "slurm" else use for use in uses]
