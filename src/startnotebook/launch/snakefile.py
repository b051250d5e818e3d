"""The package's side of workflow/Snakefile: which sessions it offers, and each launch's plan.

Two ways in, one plan:

* ``startnotebook`` resolves everything first (site, session, is it running?), makes the
  :class:`~startnotebook.launch.launching.LaunchPlan` and hands it over (:func:`hand_over`) before it runs
  the workflow in its own process: the Snakefile takes that plan as it is.
* ``snakemake notebook_NAME`` (a project's sessions, see project.py): the Snakefile resolves the
  site (the profile Snakemake was given) and the project's declarations once when it is parsed,
  and plans a session's launch only when its target is asked for (the target's input function).

Every file of a launch lives in its record folder, which is the ``{launch}`` wildcard of the rules:
a new launch is a new folder, so Snakemake runs all its rules, and a running session's files are
never touched by a later run.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from snakemake.io import get_flag_value
from snakemake_interface_common.exceptions import WorkflowError

from .. import resources
from ..display.report import connection_banner, waiting_for_lock
from ..errors import NotebookFetchError, StartNotebookError
from ..jobs import environments, image
from ..jobs.backends import get_backend
from ..jobs.environments import Environment
from ..sessions.records import LAUNCH_ID
from ..sessions.session import Session
from ..settings import profiles
from ..settings.config import NotebookFetch, Site, load_site
from ..settings.session_settings import SessionSettings, session_settings
from .launching import LaunchPlan, Progress, running_or_new_launch
from .readiness import stop_waiting_on_interrupt

#: A launch record folder: <session folder>/.startnotebook/launches/<id>.
LAUNCH_PATTERN = r"/.+/\.startnotebook/launches/" + LAUNCH_ID.pattern

_handed_over: dict[str, LaunchPlan] = {}  # by launch folder
_planned_in_this_process: list[LaunchPlan] = []
_lock = threading.Lock()


def hand_over(plan: LaunchPlan) -> None:
    """``startnotebook``'s plan, for the Snakefile it is about to run in this process."""
    _handed_over[str(plan.record.folder)] = plan


def handed_over() -> list[LaunchPlan]:
    return list(_handed_over.values())


def as_workflow_error(function):
    """A user's mistake (a bad sheet, an unknown flavour) is reported by Snakemake in one line, as
    a WorkflowError, not as a traceback through this package."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except StartNotebookError as error:
            raise WorkflowError(f"startnotebook: {error}") from None

    return run


class Sessions:
    """The sessions a run of the Snakefile offers as targets, and their launches."""

    @as_workflow_error
    def __init__(self, workflow, config: dict):
        self.workflow = workflow
        self.plans: dict[str, LaunchPlan] = {}  # by launch folder
        self.running: dict[str, dict] = {}  # by name: the connection of a running session
        self.planned: dict[str, str] = {}  # by name: its launch folder
        self._locks = []
        handed = handed_over()
        if handed:
            self.site: Site | None = handed[0].site
            self.declared: dict[str, tuple[dict, Path | None]] = {}
            for plan in handed:
                self._adopt(plan)
        elif workflow.is_main_process:
            from ..settings import project

            # Ctrl-C must also end a launch's wait for its URL (and so cancel its job).
            stop_waiting_on_interrupt()
            site_profiles = profiles.given_to_snakemake()
            self.site = load_site(site_profiles[-1] if site_profiles else None)
            self.declared = project.declarations(config, Path.cwd(), self.site)
        else:
            # A batch job of this workflow (the image build) needs its rules, not the sessions.
            self.site, self.declared = None, {}

    def _adopt(self, plan: LaunchPlan) -> None:
        self.plans[str(plan.record.folder)] = plan
        self.planned[plan.name] = str(plan.record.folder)
        _planned_in_this_process.append(plan)

    @property
    def names(self) -> list[str]:
        return sorted({*self.declared, *self.planned})

    def plan(self, launch: str) -> LaunchPlan:
        return self.plans[launch]

    # --- targets -----------------------------------------------------------------------------
    @as_workflow_error
    def target_input(self, name: str) -> list[str]:
        """What ``notebook_NAME`` needs: a new launch's connection, or nothing if it runs."""
        with _lock:
            if name in self.running:
                return []
            if name not in self.planned:
                self._plan(name)
            if name in self.running:
                return []
            return [str(Path(self.planned[name]) / "connection.json")]

    def _plan(self, name: str) -> None:
        fields, base = self.declared[name]
        settings = session_settings(self.site, name, fields, base)
        backend = get_backend(self.site.backend)
        # Before the session folder is made, as startnotebook's own resolve does.
        offered = backend.check_resources(settings.flavour)
        dry = self.workflow.dryrun
        # A dry run (snakemake -n) looks and makes nothing.
        session = Session.find(self.site, name) if dry else Session.create(self.site, name)
        progress = Progress()
        if not dry:
            session.prepare()
            self._locks.append(session.hold_launch_lock(
                on_wait=lambda: progress.notice(waiting_for_lock(name))))
        previous, plan = running_or_new_launch(self.site, settings, session, backend, progress,
                                               launched_by="snakemake", offered=offered)
        if plan is None:
            self.running[name] = previous.connection
            return
        self._adopt(plan)

    def target_log(self, name: str) -> str:
        """Where the target notebook_NAME says what it did (never the password)."""
        if name in self.planned:
            return str(self.plans[self.planned[name]].session.logs / "notebook.log")
        return str(Session.find(self.site, name).logs / "notebook.log")

    def report(self, name: str, log: str) -> None:
        """The target's action: say how to reach the session (``startnotebook`` says it itself)."""
        launched = name not in self.running
        plan = self.plans[self.planned[name]] if launched else None
        connection = plan.connection if launched else self.running[name]
        with open(log, "w") as stream:
            stream.write(f"{name}: {'launched' if launched else 'already running'} at "
                         f"{connection['url']} (launch {connection['launch']}, job {connection['job_id']})\n")
        # startnotebook --name NAME prints its own banner (commands/launch.py).
        if not launched or plan.launched_by == "snakemake":
            print(connection_banner(connection, self.site.nodes_reachable, launched))

    # --- notebooks a session brings ------------------------------------------------------------
    @property
    def notebook_fetch(self) -> NotebookFetch:
        """The site's bounds of fetching notebooks (a batch job of the workflow fetches none)."""
        return self.site.notebook_fetch if self.site is not None else NotebookFetch()

    def notebook_source(self, launch: str, notebook: str, storage_http):
        """A notebook's source as the ``notebook`` rule's input: a path, or (for an http(s) URL)
        a file in Snakemake's storage. One that cannot be read or fetched fails the launch now,
        before anything is submitted, in one line naming it."""
        plan = self.plans[launch]
        source = plan.notebook_sources()[notebook]
        if "://" not in source:
            why = unreadable(source)
            if why:
                raise self._fetch_failed(plan, source, why, "read")
            return source
        stored = storage_http(source)
        url = get_flag_value(stored, "storage_object")
        # Snakemake fetches it later, outside any rule of ours: a failure then is told to the plan.
        url.provider.tell_failure(source, launch, lambda why: self._fetch_failed(plan, source, why))
        try:
            found = url.exists()
        except Exception as error:  # noqa: BLE001 - whatever the plugin raises (DNS, refused, TLS)
            why = getattr(error, "why", None) or str(error).splitlines()[0][:200]
            raise self._fetch_failed(plan, source, why) from None
        if not found:
            raise self._fetch_failed(plan, source, "not found")
        return stored

    @staticmethod
    def _fetch_failed(plan: LaunchPlan, source: str, why: str, verb: str = "fetched") -> NotebookFetchError:
        error = NotebookFetchError(f"notebook {source} of session {plan.name} cannot be {verb} ({why})")
        plan.failure = plan.failure or error
        return error

    def staged_notebooks(self, launch: str) -> list[str]:
        plan = self.plans[launch]
        return [str(plan.record.notebooks / name) for name in plan.notebooks_to_stage()]

    # --- images ------------------------------------------------------------------------------
    def image_input(self, launch: str) -> list[str]:
        plan = self.plans[launch]
        return [str(plan.image)] if plan.image is not None else []

    def recipe_of(self, image_dir: str, digest: str) -> str:
        """The recipe of image notebook-DIGEST: one of a planned launch, a declared session or
        the shipped one (``snakemake IMAGE_DIR/notebook-DIGEST`` builds an image by itself)."""
        recipes = [plan.recipe for plan in self.plans.values() if plan.recipe is not None]
        recipes += [settings.recipe for settings in self._declared_settings() if settings.recipe is not None]
        recipes.append(resources.notebook_recipe())
        for recipe in recipes:
            if image.recipe_digest(recipe) == digest:
                return str(recipe)
        raise StartNotebookError(f"no recipe of this run has the digest {digest} (image notebook-{digest})")

    # --- a project's environments, the session's kernels ---------------------------------------
    def environment_input(self, launch: str) -> list[str]:
        return [str(environment.marker) for environment in self.plans[launch].environments]

    def environment(self, image_dir: str, name: str) -> Environment:
        """The environment IMAGE_DIR/kernels/NAME (NAME-DIGEST) of a planned launch or a declared
        session (``snakemake IMAGE_DIR/kernels/NAME/.built`` builds one by itself)."""
        wanted = [environment for plan in self.plans.values() for environment in plan.environments]
        for settings in self._declared_settings():
            try:
                container = image.container_for(self.site.container, settings.recipe, settings.name)[0]
            except StartNotebookError:
                continue  # a row that cannot run: its own target says why
            wanted += [environments.environment_of(Path(image_dir), kernel, container)
                       for kernel in settings.kernels if (kernel / environments.RECIPE_FILE).is_file()]
        for environment in wanted:
            if environment.path == Path(image_dir) / "kernels" / name:
                return environment
        raise StartNotebookError(f"no kernel recipe of this run is environment {name} (in {image_dir}/kernels)")

    def _declared_settings(self) -> list[SessionSettings]:
        """Each declared session's settings, read as its launch reads them; a row that cannot be
        read is left out (its own target says why); none in a batch job, which has no site."""
        if self.site is None:
            return []
        found = []
        for name, (fields, base) in self.declared.items():
            try:
                found.append(session_settings(self.site, name, fields, base))
            except StartNotebookError:
                continue
        return found

    @property
    def build_proxy(self) -> str | None:
        return self.site.container.build_proxy if self.site else None


def unreadable(path: str) -> str | None:
    """Why the user cannot read the notebook at ``path`` (None: they can)."""
    try:
        if not Path(path).is_file():
            return "no such file" if not Path(path).exists() else "not a file"
        # O_NONBLOCK: a path swapped for a FIFO meanwhile must not hold the launch.
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as error:
        return (error.strerror or type(error).__name__).lower()
    return None


def abandon_unfinished(reason: str = "the launch workflow failed") -> None:
    """The workflow failed or was interrupted: no launch of this process may leave a job behind.

    For the Snakefile's ``onerror`` (Snakemake keeps only the main Snakefile's: a project's
    Snakefile calls this too, see commands/init.py)."""
    for plan in _planned_in_this_process:
        plan.abandon(str(plan.failure) if plan.failure else reason)
