"""The local backend: the server runs on this machine as a detached process.

It is started in a session of its own (no terminal, no Ctrl-C from the launch) by a short-lived
step process, so it is re-parented to init and outlives both the workflow and the wrapper.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time

from ..job import check_container, server_command, server_environment
from ..session import SessionPaths
from ..settings import SessionSettings
from . import Backend, JobState

STOP_GRACE_SECONDS = 10


def _process_start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` (from /proc), or None if it is gone or a zombie.

    Comparing start times keeps a recycled pid from passing for the server.
    """
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    state, start_ticks = fields[0], fields[19]
    return None if state in ("Z", "X") else start_ticks


class LocalBackend(Backend):
    name = "local"
    bind_ip = "127.0.0.1"
    advertised_host = "127.0.0.1"

    def describe(self, settings: SessionSettings, paths: SessionPaths) -> list[tuple[str, str]]:
        return [
            ("backend", "local (a process on this machine, no resource limits enforced)"),
            ("command", shlex.join(server_command(settings, paths))),
        ]

    def submit(self, settings: SessionSettings, paths: SessionPaths) -> dict:
        check_container(settings)
        with open(paths.server_log, "wb") as log:
            process = subprocess.Popen(
                server_command(settings, paths),
                env={**os.environ, **server_environment(settings, paths)},
                cwd=paths.folder,
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
        }

    def _is_ours(self, job: dict) -> bool:
        ticks = _process_start_ticks(int(job["id"]))
        return ticks is not None and ticks == job.get("start_ticks")

    def state(self, job: dict) -> JobState:
        if job.get("hostname") != socket.gethostname():
            return JobState(None, "UNKNOWN", f"started on {job.get('hostname')}")
        return JobState(True, "RUNNING") if self._is_ours(job) else JobState(False, "ENDED")

    def cancel(self, job: dict) -> None:
        if self.state(job).alive is not True:
            return
        pid = int(job["id"])
        try:
            # SIGTERM first: Jupyter then shuts its kernels down itself.
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline:
                if not self._is_ours(job):
                    return
                time.sleep(0.1)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it ended on its own meanwhile
