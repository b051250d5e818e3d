"""The launch core: is a session running, and the plan of a new launch.

Both ways in use it: ``startnotebook`` (which makes the plan, then runs the workflow in its own
process with that plan) and ``snakemake notebook_NAME`` (whose Snakefile makes the plan when the
target is asked for). Either way one object, the :class:`LaunchPlan`, carries the session's checked
folder, its resolved settings and the launch's record to every rule of the workflow.

Whether a session runs is decided here and only here (:func:`assess`): from its launch records
first, asking the backend only about a record whose job may still live (one question), and
calling a launch "running" only if its server answers and proves it is that launch's (client.py);
something else on its port is reported as such, never shut down and never sent the password.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import image
from .backends import Backend, JobStatus, get_backend
from .client import Impostor, Server, Unreachable
from .config import SessionSettings, Site
from .errors import ControllerUnreachable, SessionRunning, StartNotebookError
from .heartbeat import Heartbeat, renewed_elsewhere
from .job import Container, JobSpec
from .records import LaunchRecord, write_json
from .session import Session
from .status import answering_server


class Progress:
    """Where a launch reports while it works: one-line notices and the job's status.

    This one writes them to stderr, beside Snakemake's own output (a ``snakemake`` run);
    ``startnotebook`` shows them its own way (commands/launch.py).
    """

    def notice(self, text: str) -> None:
        print(f"startnotebook: {text}", file=sys.stderr, flush=True)

    def job_status(self, status: JobStatus) -> None:
        print(f"startnotebook: job {status}", file=sys.stderr, flush=True)


# --- is it running? ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assessment:
    """What a session's launch records say, checked against the backend and the server."""

    running: LaunchRecord | None = None  # a launch whose server answers: nothing to start
    connection: dict | None = None  # ... and how to reach it
    stale: LaunchRecord | None = None  # an earlier launch to retire before a new one
    stale_job: dict | None = None  # its job, still alive: to cancel
    stale_server: Server | None = None  # its server, still answering outside any job: to shut down
    notice: str | None = None  # what to tell the user about the stale launch


def assess(session: Session, backend: Backend) -> Assessment:
    """Is ``session`` running? Asks the backend once at most, and only about a live record."""
    latest = session.latest()
    if latest is None or latest.end() is not None:
        return Assessment()
    name, damage = session.name, latest.damage()
    elsewhere = renewed_elsewhere(latest) if not latest.connection_file.exists() else None
    if elsewhere:
        # Alive on another login node, where this one's lock is not seen (a lock on a shared file
        # system may be node-local). On this node the lock, held now by us, says it died.
        raise StartNotebookError(f"a launch of {name} is in progress on {elsewhere}; wait for it there")
    job, handover = latest.job(), latest.handover()
    server = Server.from_handover(handover, latest) if handover else None
    if job is None:
        job_damage = latest.damage_of(latest.job_file)
        if job_damage is not None:
            return _with_damaged_job(session, latest, job_damage)
        why = f"its record is damaged ({damage[0]})" if damage else "it never submitted its job"
        # A server it may have started all the same is found by its handover.
        live = server if server is not None and server.answers() else None
        return Assessment(stale=latest, stale_server=live,
                          notice=f"the last launch of {name} did not finish: {why}; launching afresh")
    status = backend.status(job)
    if status.alive is None:
        raise ControllerUnreachable(
            f"cannot tell whether {name}'s job {job['id']} still runs: {status.reason}")
    connection = latest.connection()
    if status.alive:
        problem = server.check() if connection is not None and server is not None else None
        if connection is not None and server is not None and problem is None:
            return Assessment(running=latest, connection=connection)
        if connection is None:
            why = f"its record is damaged ({damage[0]})" if damage else "the launch was interrupted"
        elif isinstance(problem, Impostor):
            why = str(problem)
        else:
            why = f"its server no longer answers at {connection['url']}"
        return Assessment(stale=latest, stale_job=job,
                          notice=f"the last launch of {name} is stale ({why}); its job {job['id']} "
                                 "is cancelled and the session launched afresh")
    if status.stuck:
        # It would sit in the queue for ever.
        return Assessment(stale=latest, stale_job=job,
                          notice=f"the last launch of {name} can never start ({status}); its job "
                                 f"{job['id']} is cancelled and the session launched afresh")
    problem = server.check() if server is not None else None
    if server is not None and problem is None:
        # The job ended (a node lost to SLURM) but its server lives on, outside any allocation.
        return Assessment(stale=latest, stale_server=server,
                          notice=f"the last server of {name} still answers at {server.url} although "
                                 f"its job {job['id']} ended ({status}); it is shut down")
    if isinstance(problem, Impostor):
        # Its port was taken by someone else's process: not ours to shut down, nor to log in to.
        return Assessment(stale=latest, notice=f"the last launch of {name} ended (job {job['id']}: "
                                               f"{status}) and {problem}; launching afresh")
    if damage:
        return Assessment(stale=latest, notice=f"the record of {name}'s last launch is damaged "
                                               f"({damage[0]}); launching afresh")
    return Assessment(stale=latest)


def _with_damaged_job(session: Session, latest: LaunchRecord, damage: str) -> Assessment:
    """Its job record cannot be read, so its job cannot be asked: its server can. One that still
    answers is the session, running (never a second server beside it); otherwise the launch is
    retired, once, and the session launched afresh."""
    server = answering_server(latest)
    if server is None:
        return Assessment(stale=latest, notice=f"the record of {session.name}'s last launch is "
                                               f"damaged ({damage}); launching afresh")
    connection = latest.connection()
    if connection is not None:
        return Assessment(running=latest, connection=connection)
    raise SessionRunning(f"{session.name}'s last launch has a damaged record ({damage}) but its "
                         f"server still answers at {server.url}; `startnotebook stop "
                         f"{session.name}` ends it")


def retire(assessment: Assessment, backend: Backend, progress: Progress) -> None:
    """End what an earlier launch left behind, and record it as ended."""
    stale = assessment.stale
    if stale is None:
        return
    if assessment.stale_job is not None:
        backend.cancel(assessment.stale_job)
    if assessment.stale_server is not None and stale.password():
        try:
            assessment.stale_server.shutdown(stale.password())
        except Unreachable as error:
            progress.notice(f"the last server could not be shut down: {error}")
    stale.close("failed" if assessment.notice else "ended",
                assessment.notice or "the job ended", ended=time.time())


# --- a new launch ----------------------------------------------------------------------------------
def notebook_name(source: str) -> str:
    """The file name a notebook (a path or an http(s) URL) gets in the session folder."""
    return Path(urlsplit(source).path if "://" in source else source).name


@dataclass
class LaunchPlan:
    """One launch of one session, from its first rule to its connection (or failure)."""

    site: Site
    settings: SessionSettings
    session: Session
    record: LaunchRecord
    backend: Backend
    container: Container
    recipe: Path | None  # of an image the workflow must build first
    previous: Assessment = field(default_factory=Assessment)
    progress: Progress = field(default_factory=Progress)
    launched_by: str = "snakemake"
    job: dict | None = None
    connection: dict | None = None
    failure: StartNotebookError | None = None
    abandoned: bool = False
    #: Renewed from just before the job is submitted until the connection is recorded.
    heartbeat: Heartbeat | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def image(self) -> Path | None:
        return Path(self.container.image) if self.recipe is not None else None

    def notebook_sources(self) -> dict[str, str]:
        """The notebooks the session brings, by the file name they get in its folder."""
        return {notebook_name(source): source for source in self.settings.notebooks}

    def notebooks_to_stage(self) -> list[str]:
        """Those not in the session folder yet: one the user has is never fetched again."""
        return [name for name in self.notebook_sources() if not (self.session.folder / name).exists()]

    def job_spec(self) -> JobSpec:
        return JobSpec(self.name, self.session.folder, self.record, self.settings.flavour,
                       self.container, self.session.server_log, self.site.save_before_wall_time)

    def describe(self) -> dict:
        """What launch.json records: enough for list, info and usage without the config."""
        flavour = self.settings.flavour
        return {
            "name": self.name,
            "launch": self.record.id,
            "launched_by": self.launched_by,
            "created": time.time(),
            "backend": self.site.backend,
            "profile": str(self.site.profile) if self.site.profile else None,
            "flavor": flavour.name,
            "cpus_per_task": flavour.cpus_per_task,
            "mem_mb": flavour.mem_mb,
            "runtime": flavour.runtime,
            "kernel_timeout": self.settings.kernel_timeout,
            "notebook_timeout": self.settings.notebook_timeout,
            "tls": self.settings.tls,
            "image": self.container.image,
            "notebooks": list(self.settings.notebooks),
        }

    def abandon(self, reason: str) -> None:
        """The one place a launch that did not reach its URL ends: cancel its job, record why.

        Whatever ends the launch early (a failed rule, Ctrl-C, a timeout) comes here, once. A
        closed record means no job: a job that starts after all finds its launch ended and stops
        at once (job.py). A job that cannot be cancelled now (no controller) may already run, so
        its record stays open: the job ends itself once its heartbeat stops (heartbeat.py), or
        the next launch or ``stop`` ends it.
        """
        if self.connection is not None or self.abandoned:
            return
        self.abandoned = True
        self.stop_heartbeat()
        if self.job is not None:
            try:
                self.backend.cancel(self.job)
            except StartNotebookError as error:
                self.progress.notice(f"job {self.job['id']} could not be cancelled ({error}); the "
                                     f"next launch of {self.name} or `startnotebook stop {self.name}` will")
                return
        if not self.record.launch_file.exists():
            # It failed before its first rule (e.g. a notebook it cannot fetch): still a record,
            # so that `list` and `info` say what happened.
            try:
                self.record.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_launch_record(self)
            except (OSError, StartNotebookError):
                pass
        self.record.close("failed", reason)

    def start_heartbeat(self) -> None:
        self.heartbeat = Heartbeat(self.record)
        self.heartbeat.start()

    def stop_heartbeat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()


def plan_launch(site: Site, settings: SessionSettings, session: Session, backend: Backend | None = None,
                previous: Assessment | None = None, progress: Progress | None = None,
                launched_by: str = "snakemake") -> LaunchPlan:
    """A new launch of ``session``: named, nothing done yet (its first rule makes its record)."""
    container, recipe = image.container_for(site.container, settings.recipe, settings.name)
    return LaunchPlan(site, settings, session, session.new_launch(), backend or get_backend(site.backend),
                      container, recipe, previous or Assessment(), progress or Progress(), launched_by)


def running_or_new_launch(site: Site, settings: SessionSettings, session: Session, backend: Backend,
                          progress: Progress, launched_by: str) -> tuple[Assessment, LaunchPlan | None]:
    """The session's assessment, and the plan of a new launch unless it runs; what is wrong with
    an earlier launch is told to the user. For both ways in, under the session's launch lock."""
    assessment = assess(session, backend)
    if assessment.running is not None:
        return assessment, None
    if assessment.notice:
        progress.notice(assessment.notice)
    return assessment, plan_launch(site, settings, session, backend, assessment, progress, launched_by)


def write_launch_record(plan: LaunchPlan) -> None:
    write_json(plan.record.launch_file, plan.describe())
