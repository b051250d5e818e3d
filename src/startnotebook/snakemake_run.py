"""Running the workflow target ``notebook_NAME`` in this process, with the launch's plan.

Through Snakemake's command-line entry (``snakemake.cli``), because only it applies profiles; with
every path given absolute, so that Snakemake's own lookups in the current directory (a profile or
a workflow profile of the same name there) never apply. Snakemake's output goes to the session's
``logs/workflow.log`` (and, with ``--verbose``, to the terminal too). Its temporary files go into
the session's private folder too, not /tmp (see :func:`temporary_files_in`).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from . import resources
from .errors import SessionFolderError
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
    if plan.image is None or plan.image.exists():
        # No batch job to run (the notebook job is submitted by the submit rule): an executor
        # plugin would only cost time and questions to the controller.
        argv += ["--executor", "local"]
    return argv


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
            from snakemake.cli import args_to_api, parse_args

            parser, args = parse_args(snakemake_argv(plan))
            before = set(threading.enumerate())
            try:
                return bool(args_to_api(args, parser))
            finally:
                _cancel_leftover_timers(before)


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
