"""``startnotebook list [--all] [--json]``: the user's sessions, one row each.

Running and pending ones by default; ``--all`` adds ended and failed ones. However many sessions
there are, the batch system is asked once at most (see status.py).
"""

from __future__ import annotations

import os
import sys

from ..session import sessions
from ..status import SessionStatus, statuses
from ..times import duration, hours_minutes, iso, when
from .common import parser, print_json, site_of

COLUMNS = ("NAME", "STATE", "BACKEND", "JOB", "NODE", "URL", "FLAVOR", "STARTED", "IDLE", "LEFT",
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
    from ..tables import fit

    cells = [{
        "NAME": r["name"], "STATE": r["state"], "BACKEND": r["backend"] or "-",
        "JOB": r["job_id"] or "-", "NODE": r["node"] or "-", "URL": r["url"] or "-",
        "FLAVOR": r["flavor"] or "-",
        "STARTED": when(_timestamp(r["started"])),
        "IDLE": duration(r["idle_seconds"]), "LEFT": left(r),
        "FOLDER": r["folder"].replace(home, "~", 1) if r["folder"].startswith(home + "/") else r["folder"],
    } for r in rows]
    return fit(cells, COLUMNS, shrinkable=(("FOLDER", 12), ("NAME", 20), ("NODE", 8), ("URL", 24),
                                         ("FOLDER", 6), ("NAME", 10), ("URL", 12)))


def _timestamp(text: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp() if text else None


def main(argv: list[str]) -> int:
    command = parser("list", "The user's sessions: running and pending ones (--all: every one).")
    command.add_argument("--all", action="store_true", help="also the sessions that ended or failed")
    command.add_argument("--json", action="store_true", help="JSON (schemas/list.schema.json)")
    args = command.parse_args(argv)
    site = site_of(args)
    found = statuses(sessions(site), site.backend)
    rows = [row(status) for status in found if args.all or status.live]
    if args.json:
        print_json(rows)
    elif rows:
        print(table(rows, os.path.expanduser("~")))
    else:
        print("No sessions are running or pending." + ("" if args.all else " (--all shows every session)"),
              file=sys.stderr)
    return 0
