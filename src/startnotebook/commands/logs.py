"""``startnotebook logs NAME [-f] [--workflow]``: the server's log (or the workflow's).

Every launch adds to the same log; ``-f`` follows it until the session ends, which it learns from
the record the job writes (the batch system is asked only on a slow back-off, for a job that
ended without a word).
"""

from __future__ import annotations

import sys
import time

from ..jobs.backends import get_backend
from ..launch.readiness import log_since
from ..sessions.status import status_of
from ..settings.config import Site
from .common import existing_session

POLL_SECONDS = 0.5


def follow_until_the_end(path, status, out=sys.stdout) -> None:
    """Copy ``path`` as it grows until the session of ``status`` ends."""
    record = status.record
    job = status.job
    backend = get_backend(job["backend"]) if job else None
    delays = backend.check_delays() if backend else None
    next_check = time.monotonic() + (next(delays) if delays else 0)
    offset = 0
    while True:
        chunk = log_since(path, offset)
        offset += len(chunk)
        out.write(chunk.decode(errors="replace"))
        out.flush()
        if record is None or record.end() is not None:
            return
        if backend is not None and time.monotonic() >= next_check:
            if backend.status(job).alive is False:
                return
            next_check = time.monotonic() + next(delays)
        time.sleep(POLL_SECONDS)


def run(site: Site, name: str, follow: bool = False, workflow: bool = False) -> int:
    """The server's log of session ``name`` (``workflow``: the workflow's), or (``follow``) what
    is added to it until the session ends."""
    session = existing_session(site, name)
    path = session.workflow_log if workflow else session.server_log
    if follow:
        follow_until_the_end(path, status_of(session, site.backend))
        return 0
    try:
        sys.stdout.write(path.read_text(errors="replace"))
    except FileNotFoundError:
        print(f"{name} has no {'workflow' if workflow else 'server'} log yet ({path})",
              file=sys.stderr)
    return 0
