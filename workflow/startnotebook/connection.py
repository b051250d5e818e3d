"""From a submitted job to the connection JSON: wait for the handover, probe, record.

The job writes the handover file (host, port) once its server listens; this side reads it from
the session folder. Checking the job's state costs a call to the backend (for SLURM, to the
controller), so that is done on the backend's own back-off, while the file is looked at often.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from . import resources
from .backends import Backend, JobState
from .errors import ServerFailed
from .session import SessionPaths, write_private_text
from .settings import SessionSettings
from .state import read_json

FILE_POLL_SECONDS = 0.2
LOG_TAIL_LINES = 12


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in tail) or f"(empty log at {path})"


def url_of(handover: dict) -> str:
    """The URL as the user types it: http://HOST:PORT (plus the base path, if any)."""
    base = handover.get("base_url", "/").rstrip("/")
    return f"http://{handover['host']}:{handover['port']}{base}"


#: The node is reached directly: a login node's http_proxy is for the outside world.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str) -> bool:
    """Does the server serve its login page? (Any page but /login would need the password.)"""
    try:
        with _DIRECT.open(url + "/login", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_for_handover(
    settings: SessionSettings,
    paths: SessionPaths,
    backend: Backend,
    job: dict,
    on_state=lambda state: None,
) -> dict:
    """The handover of a server that answers; ServerFailed when the job ends or time runs out."""
    deadline = time.monotonic() + settings.url_timeout
    next_check, attempt, state = 0.0, 0, JobState(None, "SUBMITTED")
    while True:
        handover = read_json(paths.handover)  # written atomically by the job
        if handover and answers(url_of(handover)):
            return handover
        now = time.monotonic()
        if now >= next_check:
            state = backend.state(job)
            on_state(state)
            attempt += 1
            next_check = now + backend.poll_delay(attempt)
            if state.alive is False and state.label == "PENDING":
                raise ServerFailed(f"job {job['id']} is {state}; it was cancelled")
            if state.alive is False:
                raise ServerFailed(
                    "the notebook server ended before its URL was known; the end of its log "
                    f"({paths.server_log}):\n{log_tail(paths.server_log)}"
                )
        if now >= deadline:
            raise ServerFailed(
                f"no notebook URL after {settings.url_timeout} s (job {job['id']}: {state}); "
                "the job was cancelled"
            )
        time.sleep(FILE_POLL_SECONDS)


def connection_record(
    settings: SessionSettings, job: dict, handover: dict, password: str
) -> dict:
    return {
        "name": settings.name,
        "url": url_of(handover),
        "host": handover["host"],
        "port": handover["port"],
        "password": password,
        "folder": settings.folder,
        "backend": settings.backend,
        "job_id": job["id"],
        "flavor": settings.flavor,
        "cpus_per_task": settings.cpus_per_task,
        "mem_mb": settings.mem_mb,
        "runtime": settings.runtime,
        "kernel_timeout": settings.kernel_timeout,
        "notebook_timeout": settings.notebook_timeout,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def validate_connection(record: dict) -> None:
    import jsonschema  # see settings.validate_config

    schema = json.loads(resources.schema("connection.schema.json").read_text())
    jsonschema.validate(record, schema, format_checker=jsonschema.FormatChecker())


def write_connection(path: Path, record: dict) -> None:
    validate_connection(record)
    write_private_text(path, json.dumps(record, indent=2))
