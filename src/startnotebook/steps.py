"""What the workflow's rules do, one function per rule (see workflow/rules/launch.smk).

Each takes the launch's :class:`~startnotebook.launching.LaunchPlan`, which the Snakefile hands to
its ``run:`` blocks; they run in Snakemake's own threads (``--force-use-threads``), in the
process that made the plan. A step that fails records its error on the plan, where the
``startnotebook`` command finds the message for the user.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from . import credentials, jupyter_config, tls
from .connection import connection_record
from .errors import ServerFailed, SessionFolderError, StartNotebookError
from .job import job_script
from .launching import LaunchPlan, retire, write_launch_record
from .readiness import wait_for_server
from .records import write_json, write_private


def step(function):
    """Keep the first error of a launch on its plan (the one the user reads)."""

    @functools.wraps(function)
    def run(plan: LaunchPlan, *args, **kwargs):
        try:
            return function(plan, *args, **kwargs)
        except StartNotebookError as error:
            if plan.failure is None:
                plan.failure = error
            raise

    return run


@step
def begin(plan: LaunchPlan) -> None:
    """Retire what an earlier launch left behind, make the folders, record what is launched."""
    retire(plan.previous, plan.backend)
    plan.session.prepare()
    os.chmod(plan.record.folder, 0o700)  # made by Snakemake for this rule's output
    write_launch_record(plan)


@step
def place_notebooks(plan: LaunchPlan, fetched: list[str]) -> None:
    """Put the notebooks the session brings into its folder; one there already is left alone."""
    for path in map(Path, fetched):
        destination = plan.session.folder / path.name
        try:
            # O_EXCL: a notebook the user has (and may have edited) is never overwritten.
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            raise SessionFolderError(f"cannot put {path.name} into {plan.session.folder}: "
                                     f"{error.strerror}") from error
        with open(path, "rb") as source, os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(source, target)


@step
def make_credentials(plan: LaunchPlan) -> None:
    credentials.write_new_password(plan.record)


def tls_files(plan: LaunchPlan) -> tuple[str, str] | None:
    if not plan.settings.tls:
        return None
    if plan.site.tls.certificate is not None:
        return tls.site_certificate(plan.site.tls.certificate, plan.site.tls.key)
    return tls.session_certificate(plan.session.tls_folder, plan.name)


@step
def make_jupyter_config(plan: LaunchPlan) -> None:
    password = plan.record.password()
    config = jupyter_config.jupyter_settings(
        plan.settings, plan.session.folder, plan.record, credentials.hash_password(password),
        bind_ip=plan.backend.bind_ip, host=plan.backend.advertised_host, tls_files=tls_files(plan),
    )
    jupyter_config.write_jupyter_config(plan.record, config)


@step
def submit(plan: LaunchPlan) -> None:
    spec = plan.job_spec()
    write_private(spec.script_path, job_script(spec, plan.session.inode))
    plan.job = plan.backend.submit(spec)
    write_json(plan.record.job_file, plan.job)


@step
def connect(plan: LaunchPlan) -> None:
    """Wait for the server to answer, then record how to reach it."""
    try:
        handover = wait_for_server(plan.record, plan.job, plan.backend, plan.site.url_timeout,
                                   plan.session.server_log, plan.progress.job_status)
    except ServerFailed:
        if _folder_replaced(plan):
            raise SessionFolderError(
                f"the session folder changed after the launch checked it ({plan.session.folder} is "
                "another folder now); the job refused to start there") from None
        raise
    record = connection_record(plan, handover, plan.record.password())
    write_json(plan.record.connection_file, record)
    plan.connection = record


def _folder_replaced(plan: LaunchPlan) -> bool:
    try:
        return os.stat(plan.session.folder, follow_symlinks=False).st_ino != plan.session.inode
    except OSError:
        return True
