"""``startnotebook list [--all] [--json]``: the user's sessions, one row each.

Running and pending ones by default; ``--all`` adds ended and failed ones. However many sessions
there are, the batch system is asked once at most (see status.py).
"""

from __future__ import annotations

import os
import sys

from ..display.times import duration, hours_minutes, iso, when
from ..sessions.session import sessions
from ..sessions.status import SessionStatus, statuses
from ..settings.config import Site
from .common import print_json

COLUMNS = ("NAME", "STATE", "BACKEND", "JOB", "NODE", "URL", "FLAVOR", "GPUS", "STARTED", "IDLE", "LEFT",
           "FOLDER")


def row(status: SessionStatus) -> dict:
    """A session as ``list --json`` shows it (schemas/list.schema.json)."""
    launched, job, connection = status.launched, status.job, status.connection
    return {
        "name": status.name,
        "state": status.state,
        "reason": status.reason,
        "backend": status.backend,
        "job_id": job.get("id"),
        "node": status.handover.get("node") if status.live else None,
        "url": connection.get("url"),
        "flavor": launched.get("flavor"),
        # A record of before GPUs asked for none.
        "gpus": launched.get("gpus", 0) if launched else None,
        "started": iso(status.started),
        "idle_seconds": round(status.idle_seconds) if status.idle_seconds is not None else None,
        "time_left": status.time_left,
        "seconds_left": status.seconds_left,
        "folder": str(status.session.folder),
    }


def left(row: dict) -> str:
    """Wall time left as JupyterLab's status bar counts it (h:mm)."""
    return hours_minutes(row["seconds_left"]) if row["seconds_left"] is not None else "-"


def table(rows: list[dict], home: str) -> str:
    from ..display.tables import fit

    cells = [{
        "NAME": r["name"], "STATE": r["state"], "BACKEND": r["backend"] or "-",
        "JOB": r["job_id"] or "-", "NODE": r["node"] or "-", "URL": r["url"] or "-",
        "FLAVOR": r["flavor"] or "-", "GPUS": r["gpus"] or "-",
        "STARTED": when(_timestamp(r["started"])),
        "IDLE": duration(r["idle_seconds"]), "LEFT": left(r),
        "FOLDER": r["folder"].replace(home, "~", 1) if r["folder"].startswith(home + "/") else r["folder"],
    } for r in rows]
    # GPUS only where some session has GPUs: a column of dashes says nothing.
    columns = [column for column in COLUMNS if column != "GPUS" or any(r["gpus"] for r in rows)]
    return fit(cells, columns, shrinkable=(("FOLDER", 12), ("NAME", 20), ("NODE", 8), ("URL", 24),
                                         ("FOLDER", 6), ("NAME", 10), ("URL", 12)))


def _timestamp(text: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp() if text else None


def run(site: Site, every: bool = False, as_json: bool = False) -> int:
    """The live sessions (``every``: all of them), as a table or as JSON."""
    found = statuses(sessions(site), site.backend)
    rows = [row(status) for status in found if every or status.live]
    if as_json:
        print_json(rows)
    elif rows:
        print(table(rows, os.path.expanduser("~")))
    else:
        print("No sessions are running or pending." + ("" if every else " (--all shows every session)"),
              file=sys.stderr)
    return 0
