"""A launch's heartbeat: whether a launch still waits for its job, or died before showing the URL.

A launch killed after it submitted its job (``kill -9``, a closed terminal, a lost login node)
leaves a job nobody will connect to. The launch therefore writes ``launches/<id>/heartbeat`` just
before it submits the job and renews the file's time every :data:`EVERY` seconds until the
connection is recorded (or the launch ends). Two parties read it:

* The job (its script, job.py) watches it until ``connection.json`` appears: a heartbeat that has
  not moved for :data:`STALE` seconds of the job's own clock means its launch died; the job then
  records that and ends. The job compares the file's time with itself, never with its node's
  clock, so clocks that differ between login and compute nodes do not matter.
* The user's next command (``list``, ``info``, ``stop``, a launch) tells a dead launch from one
  that waits: on the login node the launch ran on, the session's lock says it (held while the
  launch lives, released when it dies); on another login node (a lock on a shared file system may
  be node-local) a heartbeat renewed within :data:`STALE` seconds does.

The file names the login node that renews it. It is kept when the launch ends: its time says when
the launch was last alive.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from ..sessions.records import Damaged, LaunchRecord, read_json, write_private

#: Seconds between two renewals by the launch.
EVERY = 10
#: A heartbeat not renewed for this long (three renewals missed) belongs to a dead launch.
STALE = 30


def heartbeat_file(record: LaunchRecord) -> Path:
    return record.folder / "heartbeat"


class Heartbeat:
    """The launch's side: a thread that renews the file until :meth:`stop`."""

    def __init__(self, record: LaunchRecord):
        self.path = heartbeat_file(record)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Write the heartbeat (before the job exists, so that the job always finds one)."""
        write_private(self.path, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}) + "\n")
        self._thread = threading.Thread(target=self._renew, name="startnotebook-heartbeat", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stopped.wait(EVERY):
            try:
                os.utime(self.path)
            except OSError:
                pass  # a full or vanished folder: the job then ends itself, as for a dead launch

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


def renewed_elsewhere(record: LaunchRecord) -> str | None:
    """The other login node whose launch of ``record`` renews its heartbeat now, if any.

    A heartbeat of this host never counts: here the session's lock tells (see module doc)."""
    path = heartbeat_file(record)
    try:
        beat = read_json(path)
        renewed = os.stat(path).st_mtime
    except (Damaged, OSError):
        return None
    host = beat.get("host") if beat else None
    if not isinstance(host, str) or host == socket.gethostname():
        return None
    return host if time.time() - renewed < STALE else None
