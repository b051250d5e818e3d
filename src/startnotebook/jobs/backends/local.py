"""The local backend: the job script runs on this machine as a detached process.

It is started in a session of its own (no terminal, no Ctrl-C from the launch), so it outlives the
launch. Its status is read from /proc: asking costs nothing.

Its wall time is the flavour's runtime, as on SLURM: the server ends the session cleanly before
it (server/session_api.py), and ``timeout`` ends the job at it should the server not have.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time

from ...errors import UnavailableResources
from ...settings.config import Flavour
from ..job import JobSpec, check_container, server_command
from . import ENDED, GONE, RUNNING, UNKNOWN, Backend, JobStatus

STOP_GRACE_SECONDS = 15
#: After the wall time's TERM, how long the job has before it is killed (as SLURM's KillWait).
KILL_AFTER_SECONDS = 30


def wall_time_limit(spec: JobSpec) -> list[str]:
    """The job's command prefix that ends it at the flavour's wall time (TERM, then KILL)."""
    return ["timeout", "--signal=TERM", f"--kill-after={KILL_AFTER_SECONDS}",
            f"{spec.flavour.runtime * 60}s"]


def _process_start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` (from /proc), or None if it is gone or a zombie.

    Comparing start times keeps a recycled pid from passing for the job.
    """
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    state, start_ticks = fields[0], fields[19]
    return None if state in ("Z", "X") else start_ticks


def _left(seconds: int | None) -> str:
    """The wall time left, as squeue says it (H:MM:SS); "" if the job's record has no end."""
    if seconds is None:
        return ""
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class LocalBackend(Backend):
    name = "local"
    bind_ip = "127.0.0.1"
    advertised_host = "127.0.0.1"

    def describe(self, spec: JobSpec) -> list[tuple[str, str]]:
        return [
            ("backend", "local (a process on this machine; its cores and memory are not limited)"),
            ("command", shlex.join(server_command(spec))),
        ]

    def submit(self, spec: JobSpec) -> dict:
        check_container(spec)
        with open(spec.server_log, "ab") as log:
            process = subprocess.Popen(
                [*wall_time_limit(spec), "/bin/bash", str(spec.job_script_file)],
                cwd=spec.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return {
            "backend": self.name,
            "id": str(process.pid),
            "hostname": socket.gethostname(),
            "start_ticks": _process_start_ticks(process.pid),
            "ends": time.time() + spec.flavour.runtime * 60,
        }

    def check_resources(self, flavour: Flavour) -> str | None:
        # A process here is given nothing: it would see every GPU of the machine, or none, and
        # share them with whatever else runs. A flavour that asks for GPUs is the site's promise
        # of an allocation, which only a batch system keeps.
        if flavour.gpus:
            raise UnavailableResources(
                f"flavour {flavour.name} asks for {flavour.gpus_text()}, which the local backend cannot "
                "give (it runs the server on this machine and allots nothing); use a profile with a "
                "batch system, e.g. --profile slurm")
        return None

    def _is_ours(self, job: dict) -> bool:
        ticks = _process_start_ticks(int(job["id"]))
        return ticks is not None and ticks == job.get("start_ticks")

    def _status(self, job: dict) -> JobStatus:
        if job.get("hostname") != socket.gethostname():
            return JobStatus(UNKNOWN, "UNKNOWN", f"started on {job.get('hostname')}")
        if self._is_ours(job):
            ends = job.get("ends")
            seconds = max(0, int(ends - time.time())) if isinstance(ends, (int, float)) else None
            return JobStatus(RUNNING, "RUNNING", node=job["hostname"], time_left=_left(seconds),
                             seconds_left=seconds)
        # The process is gone; how it ended only its own records tell.
        return JobStatus(ENDED, "ENDED", ending=GONE)

    def statuses(self, jobs: list[dict]) -> dict[str, JobStatus]:
        return {job["id"]: self._status(job) for job in jobs}

    def cancel(self, job: dict) -> None:
        if self._status(job).alive is not True:
            return
        pid = int(job["id"])
        try:
            # TERM first: the job script passes it on, Jupyter shuts its kernels down (CONT: a
            # stopped server must run to do so).
            os.killpg(pid, signal.SIGTERM)
            os.killpg(pid, signal.SIGCONT)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline:
                if not self._is_ours(job):
                    return
                time.sleep(0.1)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it ended on its own meanwhile
