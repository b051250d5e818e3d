"""Where a session's job runs. A backend starts the job script, tells jobs' status, cancels.

The site's ``backend`` picks one; a new backend is a module here with a class implementing
:class:`Backend`, listed in ``get_backend``, and, if its jobs can learn something of themselves
from the batch system (their id, their end), a :class:`JobFromInside` listed in ``from_inside``.
tests/test_backends.py is the contract every backend passes.

This module is imported inside jobs too (the session's server, a rerun's notebook job): it needs
the standard library only.
"""

from __future__ import annotations

import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import ConfigError

if TYPE_CHECKING:
    from ...settings.config import Flavour
    from ..job import JobSpec

#: The backends there are, by the name the site's ``backend`` setting gives them.
BACKENDS = ("local", "slurm")


#: A job's state, in every backend's words (as batchspawner has them): waiting in the queue,
#: running, ended, or not known right now (the batch system does not answer).
PENDING, RUNNING, ENDED, UNKNOWN = "pending", "running", "ended", "unknown"
#: How an ended job ended: its script exited by itself; its wall time was reached; the batch
#: system ended it otherwise (cancelled, node lost, out of memory, ...); or it is gone and how
#: is not known (counted as ending by itself: the job records its own end when it can).
COMPLETED, WALL_TIME, FAILED, GONE = "completed", "wall time", "failed", "gone"


@dataclass(frozen=True)
class JobStatus:
    """What a backend knows of a job now, in scheduler-neutral terms (:data:`PENDING`, ...).

    What the batch system's own words mean is its backend's business alone; ``label`` carries
    those words (SLURM's ``PENDING``, ``NODE_FAIL``, ...) to be shown as they are, never read.
    """

    state: str  # PENDING, RUNNING, ENDED, UNKNOWN
    label: str  # the batch system's own word for it, shown to the user
    reason: str = ""
    node: str = ""
    time_left: str = ""  # as the batch system says it (e.g. "7:58:12"); "" if unknown
    seconds_left: int | None = None  # the same in seconds; None if unknown
    expected_start: float | None = None  # a waiting job: when the batch system expects to start it
    #: Pending for a reason no wait cures: it will never serve, yet it keeps its place in the
    #: queue until it is cancelled.
    never_starts: bool = False
    ending: str = ""  # of an ended job: COMPLETED, WALL_TIME, FAILED or GONE

    def __str__(self) -> str:
        told = ", ".join(part for part in (self.reason, self._expected()) if part)
        return f"{self.label} ({told})" if told else self.label

    def _expected(self) -> str:
        if self.expected_start is None:
            return ""
        return "expected to start at " + time.strftime("%H:%M", time.localtime(self.expected_start))

    @property
    def alive(self) -> bool | None:
        """Running, or waiting to; None when it cannot be told."""
        if self.state == UNKNOWN:
            return None
        return self.state == RUNNING or (self.state == PENDING and not self.never_starts)

    @property
    def stuck(self) -> bool:
        return self.state == PENDING and self.never_starts

    @property
    def in_queue(self) -> bool:
        """Running or waiting (stuck or not): the batch system holds it until it ends or is
        cancelled."""
        return self.state in (PENDING, RUNNING)

    @property
    def ended_by_itself(self) -> bool:
        return self.state == ENDED and self.ending in (COMPLETED, WALL_TIME, GONE)

    @property
    def wall_time_reached(self) -> bool:
        return self.state == ENDED and self.ending == WALL_TIME


@dataclass(frozen=True)
class Accounted:
    """A job's use as the batch system's accounting has it (times in epoch seconds)."""

    start: float
    end: float | None  # None: still running
    cpus: int
    mem_mb: int | None  # None: accounting does not say
    gpus: int | None = None  # None: accounting does not count GPUs


class Backend(ABC):
    name: str
    #: The address the server listens on, and the host put in the URL ("" = the node's address).
    bind_ip: str
    advertised_host: str
    #: Seconds before the first status check of a new job, and between later ones. Asking costs
    #: the local backend nothing; readiness itself comes from the files the job writes.
    first_check: float = 0.5
    check_every: float = 0.5
    #: What ``usage`` calls the batch system's accounting, where it keeps one.
    accounting_name: str = ""

    @property
    def inside(self) -> JobFromInside:
        """What its jobs learn of themselves from inside (the job script asks it)."""
        return from_inside(self.name)

    @abstractmethod
    def describe(self, spec: JobSpec) -> list[tuple[str, str]]:
        """(label, value) lines for ``--check``: what would be started, and how."""

    @abstractmethod
    def submit(self, spec: JobSpec) -> dict:
        """Start the job script, detached; return the job record (stored as job.json)."""

    @abstractmethod
    def statuses(self, jobs: list[dict]) -> dict[str, JobStatus]:
        """The status of each job (by id), with one question to the batch system at most."""

    @abstractmethod
    def check_resources(self, flavour: Flavour) -> str | None:
        """Before anything of a launch starts: UnavailableResources (one line, naming the flavour
        and what there is) if the flavour asks for what this backend cannot give; else what the
        batch system offers for it, for ``--check`` (None: nothing needed asking)."""

    @abstractmethod
    def cancel(self, job: dict) -> None:
        """End the job and everything it started; a job already gone is not an error."""

    def status(self, job: dict) -> JobStatus:
        return self.statuses([job])[job["id"]]

    def keeps_accounting(self) -> bool:
        """Whether the batch system keeps its own record of what jobs used (``usage``)."""
        return False

    def accounted(self, job_ids: list[str]) -> dict[str, Accounted]:
        """What the batch system's accounting says each job (by id) used, one question for all;
        jobs it does not know are left out."""
        return {}

    def check_delays(self):
        """Seconds to wait before each status check of a job being launched (jittered)."""
        yield self.first_check * random.uniform(1.0, 1.2)
        while True:
            yield self.check_every * random.uniform(1.0, 1.3)


@dataclass(frozen=True)
class JobFromInside:
    """What a job can learn of itself from its batch system, from inside it (the job script, the
    session's server, a rerun's notebook). This one is the local backend's: nothing; the job is
    its script's process, and its end is the flavour's runtime from its start."""

    #: The environment variable in which the batch system gives the job its id ("": none).
    job_id_variable: str = ""
    #: The environment variable counting how often the batch system started the job again.
    restart_variable: str = ""
    #: The job's end as the batch system says it now (one question; None: it cannot tell).
    ask_end: Callable[[str], float | None] | None = None
    #: The batch system signals the job's shell USR1 before its end (the submission asks it so),
    #: up to this many seconds earlier than asked.
    end_signal_early: int = 0

    def job_id(self) -> str:
        return os.environ.get(self.job_id_variable, "") if self.job_id_variable else ""

    def job_id_in_shell(self) -> str:
        """The job's id in its script: the batch system's, else the script's own process id."""
        return f"${{{self.job_id_variable}:-$$}}" if self.job_id_variable else "$$"


def from_inside(name: str) -> JobFromInside:
    """What a job of backend ``name`` learns of itself from inside; standard library only."""
    if name == "slurm":
        from .slurm.in_job import FROM_INSIDE

        return FROM_INSIDE
    return JobFromInside()


def job_id_here() -> str:
    """The id a batch system gave the job this process runs in ("" outside any), whichever it
    is: a rerun's notebook runs in a job that Snakemake's executor submitted."""
    return next(filter(None, (from_inside(name).job_id() for name in BACKENDS)), "")


def get_backend(name: str) -> Backend:
    if name == "local":
        from .local import LocalBackend

        return LocalBackend()
    if name == "slurm":
        from .slurm.backend import SlurmBackend

        return SlurmBackend()
    raise ConfigError(f"unknown backend {name!r} (choose from: {', '.join(BACKENDS)})")
