"""``startnotebook stop NAME``: a clean stop, whatever the backend.

The server is asked to shut down through its own API (it shuts its kernels down, then exits), so
the job ends by itself and its allocation is released; a server that does not answer has its job
cancelled instead. Every file of the session stays.

A stop holds the session's lock, as a launch does: a stop and a launch of one session never
interleave (a launch under way is waited for, then stopped; a launch after the stop finds the
session ended), so no launch says "already running" of a server a stop is ending.
"""

from __future__ import annotations

import sys
import time

from ..display.report import waiting_for_lock
from ..errors import ControllerUnreachable, StartNotebookError
from ..jobs.backends import get_backend
from ..sessions.client import Server, Unreachable
from ..sessions.judgement import LAUNCHING, PENDING, UNKNOWN
from ..sessions.session import Session
from ..sessions.status import status_of
from ..settings.config import Site
from .common import existing_session

#: How long the job may take to end after its server was asked to stop: its pages have 20 s to
#: save their documents (server/clean_end.py), then its kernels shut down.
STOP_SECONDS = 40


def stop(status) -> str:
    """Stop the session of ``status``; the line that says what happened."""
    record, job = status.record, status.job
    # A damaged job record leaves the server's own API as the only way to end it.
    backend = get_backend(job["backend"]) if job else None
    # Read before the record is closed, which removes the secrets.
    server = Server.from_handover(status.handover, record) if status.handover else None
    password = record.password()
    if backend is None and not (server and password):
        raise StartNotebookError(f"{status.name}'s job record is damaged and its server cannot be "
                                 "asked to stop: nothing was changed")
    # Recorded first: the server and the job script keep an end already recorded.
    record.close("ended", "stopped with startnotebook stop")
    asked = False
    if server is not None and password:
        try:
            server.shutdown(password)  # only once it has proven it is the session's
            asked = True
        except Unreachable:
            pass
    if asked:
        deadline = time.monotonic() + STOP_SECONDS
        # The server's port closes when it exits; watching it costs the controller nothing.
        while time.monotonic() < deadline and server.answers():
            time.sleep(0.2)
    if backend is None:
        if not asked:
            raise StartNotebookError(f"{status.name}'s job record is damaged and its server did not "
                                     "take the password on record: it cannot be stopped from here")
        return f"Stopped {status.name}; its files stay in {status.session.folder}."
    if backend.status(job).in_queue:
        time.sleep(1 if asked else 0)
        if backend.status(job).in_queue:
            backend.cancel(job)
    return f"Stopped {status.name} (job {job['id']}); its files stay in {status.session.folder}."


def run(site: Site, name: str) -> int:
    session = existing_session(site, name)
    with session.launch_lock(on_wait=lambda: print(
            f"startnotebook: {waiting_for_lock(name, stopping=True)}", file=sys.stderr, flush=True)):
        return _stop_under_lock(session, site, name)


def _stop_under_lock(session: Session, site: Site, name: str) -> int:
    status = status_of(session, site.backend)
    if status.state == UNKNOWN:
        raise ControllerUnreachable(f"cannot tell whether {name} runs: {status.reason}")
    if status.state == PENDING and status.reason == LAUNCHING:
        # On another login node (here the lock would have waited for it).
        raise StartNotebookError(f"{name} is being launched right now; stop it once its URL is shown")
    # Not live, but its job still in the queue or its server outside any job: stop ends them.
    if not (status.live or status.left is not None):
        print(f"{name} is not running ({status.state}: {status.reason}); nothing to stop.")
        return 0
    print(stop(status))
    return 0
