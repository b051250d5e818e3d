"""Running the workflow target ``notebook_NAME`` in this process, with the launch's plan.

Through Snakemake's command-line entry (``snakemake.cli``), because only it applies profiles; with
every path given absolute, so that Snakemake's own lookups in the current directory (a profile or
a workflow profile of the same name there) never apply. Snakemake's output goes to the session's
``logs/workflow.log`` (and, with ``--verbose``, to the terminal too). Its temporary files go into
the session's private folder too, not /tmp (see :func:`temporary_files_in`).

A run on the local executor (every launch that builds no image and no environment) loads no
executor plugin: Snakemake's CLI imports every installed one to build its parser, and
snakemake-executor-plugin-slurm runs ``scontrol show config`` as it is imported (the help of its
``status_command`` setting), which asks the controller twice (BUILD_INFO, PING), waits 10 s for
one that does not answer, and imports pandas (its efficiency report). See ``_plugins_for``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import pkgutil
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .. import resources
from ..errors import SessionFolderError
from ..quick_imports import yte_without_numpy
from .launching import LaunchPlan
from .snakefile import hand_over


def snakemake_argv(plan: LaunchPlan) -> list[str]:
    argv = [
        f"notebook_{plan.name}",
        "--snakefile", str(resources.snakefile()),
        "--workflow-profile", str(resources.workflow_profile()),
        "--profile", str(plan.site.profile) if plan.site.profile else "none",
        # Snakemake's own bookkeeping (.snakemake/) goes into the session's private folder.
        "--directory", str(plan.session.snakemake_folder),
        # All but the source cache, which would otherwise go to ~/.cache/snakemake, outside the
        # session: Snakemake keeps it in a temporary folder of the run instead.
        "--shared-fs-usage", "persistence", "input-output", "software-deployment", "sources",
        "storage-local-copies", "software-deployment-cache",
        # The launch holds a lock of its own (Session.launch_lock); Snakemake's would outlive a
        # killed launch. Each launch writes new files: no metadata is worth keeping.
        "--nolock", "--drop-metadata",
    ]
    if runs_locally(plan):
        argv += ["--executor", "local"]
    return argv


def runs_locally(plan: LaunchPlan) -> bool:
    """No batch job to run (the notebook job is submitted by the submit rule, through our
    backend): an executor plugin would only cost time and questions to the controller."""
    return (plan.image is None or plan.image.exists()) and all(
        environment.built for environment in plan.environments)


class _Lines(io.TextIOBase):
    """A text stream into the workflow log, copied line by line to the terminal if asked to."""

    def __init__(self, log: TextIO, echo: TextIO | None, prefix: str):
        self.log, self.echo, self.prefix, self.pending = log, echo, prefix, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        self.log.flush()
        if self.echo is not None:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                self.echo.write(f"{self.prefix}{line}\n")
            self.echo.flush()
        return len(text)


def run_workflow(plan: LaunchPlan, log_path: Path, echo: TextIO | None = None) -> bool:
    """Run the launch's target; False if the workflow failed (the plan knows why)."""
    hand_over(plan)
    plan.session.snakemake_folder.mkdir(mode=0o700, exist_ok=True)
    with open(log_path, "a") as log, temporary_files_in(plan.session.snakemake_folder / "tmp"):
        lines = _Lines(log, echo, "[workflow] ")
        with contextlib.redirect_stderr(lines), contextlib.redirect_stdout(lines):
            with _plugins_for(local=runs_locally(plan)):
                yte_without_numpy()
                from snakemake.cli import args_to_api, parse_args

                parser, args = parse_args(snakemake_argv(plan))
                before = set(threading.enumerate())
                try:
                    return bool(args_to_api(args, parser))
                finally:
                    _cancel_leftover_timers(before)


EXECUTOR_PLUGIN_PREFIX = "snakemake_executor_plugin_"
REPORT_PLUGIN_PREFIX = "snakemake_report_plugin_"


@contextlib.contextmanager
def _plugins_for(local: bool) -> Iterator[None]:
    """Snakemake's plugin registries as the run needs them, filled before Snakemake's CLI is
    imported (its scheduler module fills the executor registry then):

    * executors: for a local run only Snakemake's own (local, dryrun, touch); for any other run
      every installed plugin, as Snakemake loads them;
    * reports: none (a launch makes no report; the built-in html reporter imports docutils and
      jinja2, ~0.1 s);

    and a profile parser that passes over the settings of the plugins left out (a site profile's
    ``slurm-*`` keys would otherwise be unknown arguments)."""
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry
    from snakemake_interface_report_plugins.registry import ReportPluginRegistry

    executors = ExecutorPluginRegistry.__new__(ExecutorPluginRegistry)  # the registry's singleton
    if not local and getattr(executors, "filtered", True):
        executors.collect_plugins()
        executors.filtered = False
    elif not hasattr(executors, "plugins"):
        _register_builtin_executors(executors)
        executors.filtered = True
    reports = ReportPluginRegistry.__new__(ReportPluginRegistry)
    if not hasattr(reports, "plugins"):
        reports.plugins = {}
    left_out = [name for name in _installed_plugins(EXECUTOR_PLUGIN_PREFIX) if name not in executors.plugins]
    left_out += [f"report-{name}" for name in ["html", *_installed_plugins(REPORT_PLUGIN_PREFIX)]
                 if name not in reports.plugins]
    with _profile_keys_ignored(left_out):
        yield


def _register_builtin_executors(registry) -> None:
    from snakemake.executors import dryrun, local, touch

    registry.plugins = {}
    for name, module in (("local", local), ("dryrun", dryrun), ("touch", touch)):
        registry.register_plugin(name, module)


def _installed_plugins(prefix: str) -> list[str]:
    """The short names Snakemake gives installed plugins ("slurm", "slurm-jobstep"), found as
    Snakemake finds them, without importing any."""
    return [name.removeprefix(prefix).replace("_", "-") for name in _top_level_packages()
            if name.startswith(prefix)]


@functools.cache
def _top_level_packages() -> tuple[str, ...]:
    # One scan of sys.path (thousands of entries in a full environment) for every prefix.
    return tuple(info.name for info in pkgutil.iter_modules() if info.ispkg)


@contextlib.contextmanager
def _profile_keys_ignored(plugins: list[str]) -> Iterator[None]:
    """Snakemake's profile parser, for this run, without the keys that set those plugins'
    options (``<plugin>-<option>``): the run does not use them and their options are not
    registered. Snakemake looks the parser class up in ``snakemake.profiles`` each time it builds
    its argument parser."""
    import snakemake.profiles

    stock = snakemake.profiles.ProfileConfigFileParser
    prefixes = tuple(f"{name}-" for name in plugins)

    class ProfileWithoutUnusedPlugins(stock):
        def parse(self, stream):
            parsed = super().parse(stream)
            for key in [key for key in parsed if key.replace("_", "-").startswith(prefixes)]:
                del parsed[key]
            return parsed

    snakemake.profiles.ProfileConfigFileParser = ProfileWithoutUnusedPlugins
    try:
        yield
    finally:
        snakemake.profiles.ProfileConfigFileParser = stock


@contextlib.contextmanager
def temporary_files_in(folder: Path):
    """This process's temporary files (Python's ``tempfile``) in ``folder`` while the run lasts.

    Snakemake makes a temporary folder for every run (``/tmp/snakemakeXXXX``, which holds its
    source cache) and removes it when the run ends; a launch killed midway left it in /tmp. In
    the session's private folder instead, where the next launch clears what a killed one left:
    it runs under the session's lock, so no other run of the session is using it. The job's
    environment (TMPDIR) is not changed.
    """
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.mkdir(mode=0o700)
    except OSError as error:
        raise SessionFolderError(f"cannot make {folder}: {error.strerror or error}") from error
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = previous


def _cancel_leftover_timers(before: set) -> None:
    """Snakemake's job rate limiter leaves a re-evaluation timer (1 s) behind a finished run; the
    process would wait for it before it exits. The run is over: nothing is left to re-evaluate."""
    for thread in set(threading.enumerate()) - before:
        if isinstance(thread, threading.Timer):
            thread.cancel()
