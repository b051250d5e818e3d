"""``startnotebook [options]``: launch a session (or show it, if it runs), print URL and password.

One process: the request is resolved and checked, the session is assessed (is it running?), and
only then is the workflow run, in this process, with the launch's plan (see snakemake_run.py).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from ..display.report import connection_banner, waiting_for_lock
from ..errors import LaunchInterrupted, ServerFailed
from ..jobs.backends import RUNNING, JobStatus, get_backend
from ..launch.launching import LaunchPlan, Progress, running_or_new_launch
from ..launch.readiness import INTERRUPTED, log_since, log_tail, stop_waiting_on_interrupt
from ..launch.request import LaunchRequest, resolve
from ..launch.snakemake_run import run_workflow

TICK_SECONDS = 1.0


class TerminalProgress(Progress):
    """A dot a second while the launch works, and each change of the job's status."""

    def __init__(self, out: TextIO, dots: bool):
        self.out, self.dots = out, dots
        self.shown: str | None = None
        self.done = threading.Event()

    def notice(self, text: str) -> None:
        self.out.write(f"startnotebook: {text}\n")
        self.out.flush()

    def job_status(self, status: JobStatus) -> None:
        # A job that simply runs at once needs no word.
        if str(status) != self.shown and (status.state != RUNNING or self.shown):
            self.out.write(f"\n  job: {status}\n")
            self.out.flush()
        self.shown = str(status)

    def tick_until_done(self) -> None:
        while self.dots and not self.done.wait(TICK_SECONDS):
            self.out.write(".")
            self.out.flush()

    def echo_until_done(self, log: Path, prefix: str) -> None:
        """Copy what is added to ``log`` (the server's) to the terminal, line by line."""
        offset = log.stat().st_size if log.exists() else 0
        while True:
            finished = self.done.wait(TICK_SECONDS / 4)
            chunk = log_since(log, offset)
            complete = chunk[: chunk.rfind(b"\n") + 1] if not finished else chunk
            offset += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                self.out.write(f"{prefix}{line}\n")
            self.out.flush()
            if finished:
                return


def _show(connection: dict, as_json: bool, text: str, out: TextIO) -> None:
    out.write((json.dumps(connection, indent=2) if as_json else text) + "\n")
    out.flush()


def run(request: LaunchRequest, verbose: bool = False, as_json: bool = False,
        out: TextIO = sys.stdout) -> int:
    resolved = resolve(request, create=True)
    site, session = resolved.site, resolved.session
    session.prepare()
    # From here on a working folder of the session's own, not wherever the user stands.
    os.chdir(session.private)
    # --json keeps stdout for the JSON alone.
    chatter = sys.stderr if as_json else out
    progress = TerminalProgress(chatter, dots=not verbose)
    backend = get_backend(site.backend)
    with session.launch_lock(on_wait=lambda: progress.notice(waiting_for_lock(session.name))):
        assessment, plan = running_or_new_launch(site, resolved.settings, session, backend, progress,
                                                 launched_by="startnotebook", offered=resolved.offered)
        # Shown under the lock: a `stop` waiting for it cannot end the server before its URL is
        # shown, so no URL is shown that a concurrent stop is ending.
        if plan is None:
            _show(assessment.connection, as_json,
                  connection_banner(assessment.connection, site.nodes_reachable, launched=False), out)
            return 0
        connection = _launch(plan, progress, chatter, verbose)
        _show(connection, as_json, connection_banner(connection, site.nodes_reachable), out)
    return 0


def _launch(plan: LaunchPlan, progress: TerminalProgress, chatter: TextIO, verbose: bool) -> dict:
    chatter.write("Starting Notebook.\nDetermining Notebook url")
    chatter.flush()
    stop_waiting_on_interrupt()
    if verbose:
        ticker = threading.Thread(target=progress.echo_until_done,
                                  args=(plan.session.server_log, "[server] "), daemon=True)
    else:
        ticker = threading.Thread(target=progress.tick_until_done, daemon=True)
    ticker.start()
    try:
        succeeded = run_workflow(plan, plan.session.workflow_log, echo=chatter if verbose else None)
    except KeyboardInterrupt:
        succeeded = False
    finally:
        progress.done.set()
        ticker.join()
        chatter.write("\n")
        chatter.flush()
        # Whatever ended the launch before its URL (a failed rule, Ctrl-C) ends its job too.
        plan.abandon(str(plan.failure) if plan.failure else "the launch did not finish")
    if succeeded and plan.connection:
        return plan.connection
    if INTERRUPTED.is_set():
        raise LaunchInterrupted("interrupted while waiting for the notebook URL; "
                                + ("the job was cancelled" if plan.job else "no job was submitted"))
    if plan.failure is not None:
        raise plan.failure
    raise ServerFailed(f"the launch workflow failed; the end of its log ({plan.session.workflow_log}):\n"
                       + log_tail(plan.session.workflow_log))
