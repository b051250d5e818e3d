"""The actions of the workflow's rules, one function per rule (see workflow/rules/).

Rules run them as ``python -m startnotebook.steps STEP ARGS``, a process each: Snakemake 9
would start a whole new Snakemake process for a ``run:`` block (~3 s each), the submitting process
must exit so that a local server is re-parented away from Snakemake, and the waiting one must get
Ctrl-C itself to cancel the job it waits for.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from . import credentials, jupyter_config
from .backends import get_backend
from .connection import connection_record, wait_for_handover, write_connection
from .errors import LaunchInterrupted, StartNotebookError
from .report import connection_banner
from .session import SessionPaths, make_folders, write_private_text
from .settings import SessionSettings


def write_settings(settings_json: str, out: str) -> None:
    """The first step of a launch: make the session folder ready, record the settings."""
    settings = SessionSettings(**json.loads(settings_json))
    make_folders(SessionPaths(Path(settings.folder)))
    Path(out).write_text(settings.to_json())


def show(connection_file: str) -> None:
    print(connection_banner(json.loads(Path(connection_file).read_text())))


def make_credentials(settings_file: str, out: str) -> None:
    credentials.write_new_password(Path(out))


def make_jupyter_config(settings_file: str, password_file: str, out: str) -> None:
    settings = SessionSettings.from_file(settings_file)
    backend = get_backend(settings.backend)
    config = jupyter_config.jupyter_settings(
        settings,
        SessionPaths(Path(settings.folder)),
        credentials.hash_password(credentials.read_password(Path(password_file))),
        bind_ip=backend.bind_ip,
        host=backend.advertised_host,
    )
    jupyter_config.write_jupyter_config(Path(out), config)


def submit(settings_file: str, out: str) -> None:
    settings = SessionSettings.from_file(settings_file)
    job = get_backend(settings.backend).submit(settings, SessionPaths(Path(settings.folder)))
    write_private_text(Path(out), json.dumps(job, indent=2))


def _state_recorder(path: Path):
    """Record each new job state where the waiting `startnotebook` command can show it."""
    shown = []

    def show(state) -> None:
        if str(state) not in shown[-1:]:
            shown.append(str(state))
            path.write_text(str(state) + "\n")
            print(f"job state: {state}", flush=True)

    return show


def connect(settings_file: str, job_file: str, password_file: str, out: str) -> None:
    settings = SessionSettings.from_file(settings_file)
    paths = SessionPaths(Path(settings.folder))
    backend = get_backend(settings.backend)
    job = json.loads(Path(job_file).read_text())
    try:
        handover = wait_for_handover(
            settings, paths, backend, job, _state_recorder(paths.job_state)
        )
        password = credentials.read_password(Path(password_file))
        write_connection(Path(out), connection_record(settings, job, handover, password))
    except BaseException:
        # Whatever went wrong (server died, time out, Ctrl-C): no job is left behind.
        backend.cancel(job)
        raise


def _raise_interrupt(signum, frame):
    raise LaunchInterrupted("interrupted while waiting for the notebook URL; the job was cancelled")


STEPS = {
    "settings": write_settings,
    "credentials": make_credentials,
    "jupyter-config": make_jupyter_config,
    "submit": submit,
    "connect": connect,
    "show": show,
}


def _failure_file(step: str, first_arg: str) -> Path | None:
    """Where a step's error goes; the steps that get no settings file have none."""
    if step in ("settings", "show"):
        return None
    return SessionPaths(Path(SessionSettings.from_file(first_arg).folder)).failure


def main(argv: list[str]) -> int:
    step, *args = argv
    # Snakemake stops its jobs with SIGTERM: cancel the job then too.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        STEPS[step](*args)
    except StartNotebookError as error:
        # The `startnotebook` command shows this file's text as the launch's error message.
        failure = _failure_file(step, args[0])
        if failure is not None:
            failure.write_text(str(error))
        print(f"startnotebook: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
