"""The SLURM backend: the server runs as a batch job submitted, detached, with sbatch.

The cluster is found the standard way: ``sbatch``/``squeue``/``scancel`` on PATH, ``SLURM_CONF``.
No process of ours stays on the submit host: the job script starts Jupyter, which writes the
handover file into the session folder (a shared file system) once it listens.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from ..errors import SubmitError
from ..job import check_container, server_command, server_environment
from ..session import SessionPaths
from ..settings import SessionSettings
from . import Backend, JobState

#: squeue states of a job that can still start or is running.
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "SUSPENDED", "REQUEUED", "RESIZING"}
#: Seconds between state checks: quick at first, then rare, so a long queue wait costs the
#: controller a handful of calls (0, 1, 3, 7, 15, 30, 60, 120, 180, ... s).
POLL_DELAYS = (1, 2, 4, 8, 15, 30, 60)
CONTROLLER_TIMEOUT = 30
#: Pending reasons that no amount of waiting cures: the job asks what its partition cannot give.
HOPELESS_REASONS = {
    "PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
    "InvalidAccount", "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed",
}


def sbatch_command(settings: SessionSettings, paths: SessionPaths) -> list[str]:
    command = [
        "sbatch", "--parsable",
        # The session's name, so that squeue shows which notebook a job is.
        f"--job-name={settings.name}",
        f"--cpus-per-task={settings.cpus_per_task}",
        f"--mem={settings.mem_mb}M",
        f"--time={settings.runtime}",
        f"--chdir={paths.folder}",
        f"--output={paths.server_log}",
    ]
    if settings.slurm_partition:
        command.append(f"--partition={settings.slurm_partition}")
    if settings.slurm_account:
        command.append(f"--account={settings.slurm_account}")
    command += shlex.split(settings.slurm_extra)
    return command + [str(job_script_path(paths))]


def job_script_path(paths: SessionPaths) -> Path:
    return paths.launch / "job.sh"


def job_script(settings: SessionSettings, paths: SessionPaths) -> str:
    exports = "\n".join(
        f"export {key}={shlex.quote(value)}"
        for key, value in server_environment(settings, paths).items()
    )
    return (
        "#!/bin/bash\n"
        f"# startnotebook session {settings.name}: Jupyter for as long as it is used.\n"
        f"{exports}\n"
        "# The node's address, found here where the node's name service is (a container's may\n"
        "# not know the node); Apptainer passes APPTAINERENV_* variables in.\n"
        'export STARTNOTEBOOK_NODE_ADDRESS="$(hostname -i | cut -d" " -f1)"\n'
        'export APPTAINERENV_STARTNOTEBOOK_NODE_ADDRESS="$STARTNOTEBOOK_NODE_ADDRESS"\n'
        f"exec {shlex.join(server_command(settings, paths))}\n"
    )


def _controller(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=CONTROLLER_TIMEOUT)
    except FileNotFoundError as error:
        raise SubmitError(f"{command[0]} not found: is this a SLURM login node?") from error


def _last_line(text: str) -> str:
    """The last message of a SLURM command, without its "sbatch: error: " prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    return re.sub(r"^\w+: error: ", "", lines[-1])


class SlurmBackend(Backend):
    name = "slurm"
    bind_ip = "0.0.0.0"
    advertised_host = ""  # the job's node: known only inside the job

    def describe(self, settings: SessionSettings, paths: SessionPaths) -> list[tuple[str, str]]:
        return [
            ("backend", "slurm (a batch job, submitted detached with sbatch)"),
            ("sbatch", shlex.join(sbatch_command(settings, paths))),
            ("job runs", shlex.join(server_command(settings, paths))),
        ]

    def submit(self, settings: SessionSettings, paths: SessionPaths) -> dict:
        check_container(settings)
        script = job_script_path(paths)
        script.write_text(job_script(settings, paths))
        script.chmod(0o700)
        paths.server_log.unlink(missing_ok=True)
        result = _controller(sbatch_command(settings, paths))
        if result.returncode != 0:
            raise SubmitError(f"sbatch refused the notebook job: {_last_line(result.stderr)}")
        job_id = result.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise SubmitError(f"sbatch gave no job id: {_last_line(result.stdout + result.stderr)}")
        return {"backend": self.name, "id": job_id}

    def state(self, job: dict) -> JobState:
        result = _controller(["squeue", "--noheader", "--states=all", f"--jobs={job['id']}",
                              "--format=%T|%r|%N"])
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:
                return JobState(False, "ENDED", "no longer known to SLURM")
            return JobState(None, "UNKNOWN", _last_line(result.stderr))
        if not result.stdout.strip():
            return JobState(False, "ENDED", "no longer known to SLURM")
        label, reason, nodes = result.stdout.strip().splitlines()[0].split("|", 2)
        if label == "RUNNING":
            return JobState(True, label, f"on {nodes}")
        if label == "PENDING" and reason in HOPELESS_REASONS:
            return JobState(False, label, f"{reason}: it can never start")
        if label in LIVE_STATES:
            return JobState(True, label, "" if reason == "None" else reason)
        return JobState(False, label, "" if reason == "None" else reason)

    def cancel(self, job: dict) -> None:
        _controller(["scancel", "--quiet", job["id"]])

    def poll_delay(self, attempt: int) -> float:
        return POLL_DELAYS[min(attempt, len(POLL_DELAYS)) - 1]
