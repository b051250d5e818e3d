"""The launch core: is a session running, and the plan of a new launch.

Both ways in use it: ``startnotebook`` (which makes the plan, then runs the workflow in its own
process with that plan) and ``snakemake notebook_NAME`` (whose Snakefile makes the plan when the
target is asked for). Either way one object, the :class:`LaunchPlan`, carries the session's checked
folder, its resolved settings and the launch's record to every rule of the workflow.

Whether a session runs, and what an earlier launch left to retire, is judged by
:func:`startnotebook.sessions.judgement.judge`, as for ``list``, ``info`` and ``stop``: :func:`assess`
gathers what it needs (the records first, the backend asked only about a record whose job may
still live, one question) and acts on its answer. A launch is "running" only if its server
answers and proves it is that launch's (client.py); something else on its port is reported as
such, never shut down and never sent the password.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ControllerUnreachable, SessionRunning, StartNotebookError
from ..jobs import environments, image, modules
from ..jobs.backends import Backend, JobStatus, get_backend
from ..jobs.environments import Environment
from ..jobs.job import Container, JobSpec
from ..sessions.client import Unreachable
from ..sessions.judgement import (PENDING, RUNNING, UNKNOWN, Judgement, answer_of, facts_of, judge, needs_answer,
                                  server_of)
from ..sessions.records import LaunchRecord, write_json
from ..sessions.session import Session
from ..settings.config import Site
from ..settings.session_settings import SessionSettings
from .heartbeat import Heartbeat
from .own_kernels import OwnKernels, own_kernels


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
    """What the judgement of a session's latest launch means for a new launch."""

    running: LaunchRecord | None = None  # a launch whose server answers: nothing to start
    connection: dict | None = None  # ... and how to reach it
    stale: LaunchRecord | None = None  # an earlier launch to retire before a new one
    judgement: Judgement | None = None  # ... of it: why, and what is left of it to end
    notice: str | None = None  # what to tell the user about the stale launch


def assess(session: Session, backend: Backend) -> Assessment:
    """Is ``session`` running? Asks the backend once at most, and only about a live record."""
    latest = session.latest()
    facts = facts_of(session, latest)
    job = backend.status(facts.job) if facts.job is not None and facts.end is None else None
    judgement = judge(facts, job, answer_of(latest) if needs_answer(facts) else None)
    name = session.name
    if judgement.state == UNKNOWN:
        raise ControllerUnreachable(
            f"cannot tell whether {name}'s job {facts.job['id']} still runs: {judgement.reason}")
    if judgement.state == PENDING:
        # Alive on another login node, where this one's lock is not seen (a lock on a shared file
        # system may be node-local). On this node the lock, held now by us, says it died.
        raise StartNotebookError(f"a launch of {name} is in progress on {facts.launching_on or 'another node'}; "
                                 "wait for it there")
    if judgement.state == RUNNING:
        if facts.connection is None:
            raise SessionRunning(f"{name}'s last launch runs but its record is damaged ({judgement.reason}); "
                                 f"`startnotebook stop {name}` ends it")
        return Assessment(running=latest, connection=facts.connection)
    if judgement.retire is None:
        return Assessment()  # ended, and on record: nothing is left of it
    return Assessment(stale=latest, judgement=judgement,
                      notice=_notice(name, judgement) if judgement.tell else None)


def _notice(name: str, judgement: Judgement) -> str:
    """What a new launch tells of the earlier one it retires."""
    retire = judgement.retire
    if retire.cancel is not None:
        return (f"the last launch of {name} is stale: {judgement.reason}; its job {retire.cancel['id']} "
                "is cancelled and the session launched afresh")
    if retire.shut_down:
        return f"the last launch of {name} failed: {judgement.reason}; it is shut down, launching afresh"
    return f"the last launch of {name} {judgement.state}: {judgement.reason}; launching afresh"


def retire(assessment: Assessment, backend: Backend, progress: Progress) -> None:
    """End what an earlier launch left behind, as its judgement says, and record it as ended."""
    stale, judgement = assessment.stale, assessment.judgement
    if stale is None:
        return
    if judgement.retire.cancel is not None:
        backend.cancel(judgement.retire.cancel)
    server, password = server_of(stale), stale.password()
    if judgement.retire.shut_down and server is not None and password:
        try:
            server.shutdown(password)
        except Unreachable as error:
            progress.notice(f"the last server could not be shut down: {error}")
    stale.close(judgement.state, judgement.reason, ended=time.time())


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
    environments: tuple[Environment, ...] = ()  # the project's, as the session's kernels
    own_kernels: OwnKernels = OwnKernels()  # the user's, from their real home and JUPYTER_PATH
    previous: Assessment = field(default_factory=Assessment)
    progress: Progress = field(default_factory=Progress)
    launched_by: str = "snakemake"
    job: dict | None = None
    connection: dict | None = None
    failure: StartNotebookError | None = None
    abandoned: bool = False
    #: Renewed from just before the job is submitted until the connection is recorded.
    heartbeat: Heartbeat | None = None
    #: What the batch system offers for the flavour's resources, as checked before anything of
    #: the launch started (backend.check_resources; None: nothing needed asking).
    resources_offered: str | None = None

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
                       self.container, self.session.server_log, self.site.save_before_wall_time,
                       self.settings.modules, self.site.module_init)

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
            "gpus": flavour.gpus,
            "gpu_type": flavour.gpu_type,
            "kernel_timeout": self.settings.kernel_timeout,
            "notebook_timeout": self.settings.notebook_timeout,
            "tls": self.settings.tls,
            "image": self.container.image,
            "notebooks": list(self.settings.notebooks),
            "modules": list(self.settings.modules),
            "kernels": [environment.name for environment in self.environments],
            "own_kernels": [kernel.name for kernel in self.own_kernels.offered],
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
                launched_by: str = "snakemake", offered: str | None = None) -> LaunchPlan:
    """A new launch of ``session``: named, nothing done yet (its first rule makes its record).
    ``offered``: what the backend said of the flavour's resources (Backend.check_resources, asked
    by both ways in before the session folder is made). A module that does not exist is refused
    here, before anything is written or submitted."""
    backend = backend or get_backend(site.backend)
    modules.check_available(settings.modules, site.module_init)
    container, recipe = image.container_for(site.container, settings.recipe, settings.name)
    wanted, container = environments.of_session(site.container.image_dir, settings.kernels, container, recipe)
    own = own_kernels(os.environ, container, session.folder)
    return LaunchPlan(site, settings, session, session.new_launch(), backend, container, recipe, wanted, own,
                      previous or Assessment(), progress or Progress(), launched_by,
                      resources_offered=offered)


def running_or_new_launch(site: Site, settings: SessionSettings, session: Session, backend: Backend,
                          progress: Progress, launched_by: str,
                          offered: str | None = None) -> tuple[Assessment, LaunchPlan | None]:
    """The session's assessment, and the plan of a new launch unless it runs; what is wrong with
    an earlier launch is told to the user. For both ways in, under the session's launch lock."""
    assessment = assess(session, backend)
    if assessment.running is not None:
        return assessment, None
    if assessment.notice:
        progress.notice(assessment.notice)
    return assessment, plan_launch(site, settings, session, backend, assessment, progress, launched_by,
                                   offered)


def write_launch_record(plan: LaunchPlan) -> None:
    write_json(plan.record.launch_file, plan.describe())
