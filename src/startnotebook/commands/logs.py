"""``startnotebook logs NAME [-f] [--workflow]``: the server's log (or the workflow's).

Every launch adds to the same log; ``-f`` follows it until the session ends, which it learns from
the record the job writes (the batch system is asked only on a slow back-off, for a job that
ended without a word).
"""

from __future__ import annotations

import sys
import time

from ..backends import get_backend
from ..readiness import log_since
from ..status import status_of
from .common import existing_session, parser, site_of

POLL_SECONDS = 0.5


def follow(path, status, out=sys.stdout) -> None:
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


def main(argv: list[str]) -> int:
    command = parser("logs", "A session's server log (every launch's, oldest first).")
    command.add_argument("name")
    command.add_argument("-f", "--follow", action="store_true", help="follow it until the session ends")
    command.add_argument("--workflow", action="store_true", help="the workflow's log instead")
    args = command.parse_args(argv)
    site = site_of(args)
    session = existing_session(site, args.name)
    path = session.workflow_log if args.workflow else session.server_log
    if args.follow:
        follow(path, status_of(session, site.backend))
        return 0
    try:
        sys.stdout.write(path.read_text(errors="replace"))
    except FileNotFoundError:
        print(f"{args.name} has no {'workflow' if args.workflow else 'server'} log yet ({path})",
              file=sys.stderr)
    return 0
