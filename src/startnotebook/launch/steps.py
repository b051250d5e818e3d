"""What the workflow's rules do, one function per rule (see workflow/rules/launch.smk).

Each takes the launch's :class:`~startnotebook.launch.launching.LaunchPlan`, which the Snakefile hands to
its ``run:`` blocks (they run in Snakemake's own threads, ``--force-use-threads``, in the process
that made the plan), and the rule's log file, where it says what it did or why it failed. A
step that fails also keeps its error on the plan, where ``startnotebook`` finds the message for
the user. No step writes a password or a URL's credentials to its log.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from ..errors import NotebookFetchError, ServerFailed, SessionFolderError, StartNotebookError
from ..jobs.job import job_script
from ..sessions.connection import connection_record
from ..sessions.records import write_json, write_private
from . import credentials, jupyter_config, tls
from .launching import LaunchPlan, retire, write_launch_record
from .readiness import wait_for_server


def step(function):
    """Run a step with its log: what it did, or its error (also kept on the plan)."""

    @functools.wraps(function)
    def run(plan: LaunchPlan, log: str, *args):
        try:
            said = function(plan, *args)
        except StartNotebookError as error:
            if plan.failure is None:
                plan.failure = error
            _log(log, f"{function.__name__}: failed: {error}")
            raise
        _log(log, f"{function.__name__}: {said}")

    return run


def _log(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as log:
        log.write(text.rstrip() + "\n")


@step
def begin(plan: LaunchPlan) -> str:
    """Retire what an earlier launch left behind, record what is launched. (The session's folders
    were made ready before the launch took its lock.)"""
    retire(plan.previous, plan.backend, plan.progress)
    os.chmod(plan.record.folder, 0o700)  # made by Snakemake for this rule's output
    write_launch_record(plan)
    retired = f"; retired launch {plan.previous.stale.id}" if plan.previous.stale else ""
    return f"launch {plan.record.id} of {plan.name} ({plan.settings.flavour.name}){retired}"


@step
def stage_notebook(plan: LaunchPlan, source: str, staged: str) -> str:
    """A notebook the session brings, staged in the launch record until it is placed: the
    storage's download of a URL is taken as it is (a hard link; Snakemake then drops its own name
    for it), a file of the user's is copied."""
    origin = plan.notebook_sources()[Path(staged).name]
    try:
        if "://" in origin:
            _link_or_copy(source, staged)
        else:
            _copy_new(source, staged)
        os.chmod(staged, 0o600)
    except OSError as error:
        raise NotebookFetchError(f"notebook {origin} of session {plan.name} cannot be read "
                                 f"({(error.strerror or type(error).__name__).lower()})") from error
    return f"fetched {origin}"


@step
def place_notebooks(plan: LaunchPlan, staged: list[str], placed: str) -> str:
    """Put the notebooks the session brings into its folder; one there already is left alone
    (the user's edits win). Each is moved there (a hard link: the staged name is temporary), so
    that one copy is kept."""
    put = []
    for path in map(Path, staged):
        destination = plan.session.folder / path.name
        try:
            # Neither a link nor an O_EXCL copy replaces a notebook the user has (or a symlink).
            _link_or_copy(str(path), str(destination))
        except FileExistsError:
            continue
        except OSError as error:
            raise SessionFolderError(f"cannot put {path.name} into {plan.session.folder}: "
                                     f"{error.strerror}") from error
        put.append(path.name)
    write_private(Path(placed), "".join(f"{name}\n" for name in put))
    return f"put into the session folder: {', '.join(put) or 'nothing new'}"


def _link_or_copy(source: str, destination: str) -> None:
    """``destination`` becomes ``source`` (a file of ours): the same file where both are on one
    filesystem, else a copy. Never replaces what is there."""
    if not stat.S_ISREG(os.lstat(source).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", source)  # a link would be a symlink
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
            raise
        _copy_new(source, destination)


def _copy_new(source: str, destination: str) -> None:
    """Copy ``source`` into a new file ``destination`` (0600); O_EXCL: nothing is overwritten."""
    with open(source, "rb") as reading:
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as writing:
                shutil.copyfileobj(reading, writing)
        except BaseException:
            os.unlink(destination)
            raise


@step
def make_credentials(plan: LaunchPlan) -> str:
    credentials.write_new_credentials(plan.record)
    return "a new password and proof key (not shown)"


def tls_files(plan: LaunchPlan) -> tuple[str, str] | None:
    if not plan.settings.tls:
        return None
    if plan.site.tls.certificate is not None:
        return tls.site_certificate(plan.site.tls.certificate, plan.site.tls.key)
    return tls.session_certificate(plan.session.tls_folder, plan.name)


@step
def make_jupyter_config(plan: LaunchPlan) -> str:
    password = plan.record.password()
    files = tls_files(plan)
    config = jupyter_config.jupyter_settings(
        plan.settings, plan.session.folder, plan.record, credentials.hash_password(password),
        bind_ip=plan.backend.bind_ip, host=plan.backend.advertised_host, tls_files=files,
        backend=plan.backend.name, warnings=plan.site.warnings,
        save_before_wall_time=plan.site.save_before_wall_time,
        wall_time_recheck=plan.site.wall_time_recheck,
        kernel_dirs=[str(environment.kernel_dir) for environment in plan.environments],
        own_kernels=[str(kernel.spec) for kernel in plan.own_kernels.offered],
    )
    jupyter_config.write_jupyter_config(plan.record, config)
    return f"written{' with TLS (' + files[0] + ')' if files else ''}"


@step
def submit(plan: LaunchPlan) -> str:
    spec = plan.job_spec()
    write_private(spec.job_script_file, job_script(spec, plan.session.inode, plan.backend.inside))
    # Before the job exists: a job whose launch dies from here on finds its heartbeat stopping.
    plan.start_heartbeat()
    plan.job = plan.backend.submit(spec)
    with abandoned_on_failure(plan):
        write_json(plan.record.job_file, plan.job)
    return f"{plan.backend.name} job {plan.job['id']}"


@step
def connect(plan: LaunchPlan) -> str:
    """Wait for the server to answer, then record how to reach it."""
    with abandoned_on_failure(plan):
        try:
            handover = wait_for_server(plan.record, plan.job, plan.backend, plan.site.url_timeout,
                                       plan.session.server_log, plan.progress.job_status)
        except ServerFailed:
            if _folder_replaced(plan):
                raise SessionFolderError(
                    f"the session folder changed after the launch checked it ({plan.session.folder} "
                    "is another folder now); the job refused to start there") from None
            raise
        record = connection_record(plan, handover, plan.record.password())
        write_json(plan.record.connection_file, record)
        plan.connection = record
        # The job stops watching the heartbeat once it sees the connection.
        plan.stop_heartbeat()
    return f"{record['url']} answers (job {record['job_id']} on {record['node']})"


@contextmanager
def abandoned_on_failure(plan: LaunchPlan):
    """Whatever goes wrong from here (Ctrl-C too), the launch's job goes with it, at once:
    Snakemake runs a module's onerror nowhere, and a later rule may never run."""
    try:
        yield
    except BaseException as error:
        plan.abandon(str(plan.failure or error) or type(error).__name__)
        raise


def _folder_replaced(plan: LaunchPlan) -> bool:
    try:
        return os.stat(plan.session.folder, follow_symlinks=False).st_ino != plan.session.inode
    except OSError:
        return True
