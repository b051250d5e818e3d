"""``startnotebook usage [--since DATE] [--json]``: core-hours, memory GB-hours and GPU-hours used.

Per session and in total, from the launch records, or from the batch system's accounting where it
keeps one (each backend's, see accounting.py). ``--source`` picks one explicitly.
"""

from __future__ import annotations

from datetime import datetime

from ..display.times import iso
from ..errors import InvalidRequest
from ..sessions import accounting
from ..sessions.session import sessions
from ..sessions.status import statuses
from ..settings.config import Site
from .common import print_json


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidRequest(f"--since takes a date such as 2026-11-01, not {text!r}") from None


def summary(uses: list[accounting.Use], source: str, since: str | None) -> dict:
    """``usage --json`` (schemas/usage.schema.json): per launch, per session, in total."""
    import pandas

    launches = pandas.DataFrame([{
        "name": use.name, "launch": use.launch, "backend": use.backend, "job_id": use.job_id,
        "start": iso(use.start), "end": iso(use.end), "hours": round(use.hours, 6), "cpus": use.cpus,
        "mem_gb": round(use.mem_mb / 1024, 3), "core_hours": round(use.core_hours, 6),
        "gb_hours": round(use.gb_hours, 6), "gpus": use.gpus, "gpu_hours": round(use.gpu_hours, 6),
        "end_reason": use.end_reason,
    } for use in uses], columns=["name", "launch", "backend", "job_id", "start", "end", "hours", "cpus",
                                 "mem_gb", "core_hours", "gb_hours", "gpus", "gpu_hours", "end_reason"])
    per_session = (launches.sort_values("start").groupby("name", sort=True)
                   .agg(launches=("launch", "count"), core_hours=("core_hours", "sum"),
                        gb_hours=("gb_hours", "sum"), gpu_hours=("gpu_hours", "sum"),
                        last_end=("end_reason", lambda reasons: reasons.iloc[-1]))
                   .reset_index())
    return {
        "source": source,
        "since": since,
        "launches": launches.to_dict("records"),
        "sessions": [{"name": row["name"], "launches": int(row["launches"]),
                      "core_hours": round(float(row["core_hours"]), 6),
                      "gb_hours": round(float(row["gb_hours"]), 6),
                      "gpu_hours": round(float(row["gpu_hours"]), 6),
                      "last_end_reason": row["last_end"] if isinstance(row["last_end"], str) else None}
                     for row in per_session.to_dict("records")],
        "total": {"launches": len(launches), "core_hours": round(float(launches["core_hours"].sum()), 6),
                  "gb_hours": round(float(launches["gb_hours"].sum()), 6),
                  "gpu_hours": round(float(launches["gpu_hours"].sum()), 6)},
    }


def table(report: dict, accounting_name: str = "batch system's accounting") -> str:
    from ..display.tables import fit

    rows = [{"SESSION": s["name"], "LAUNCHES": s["launches"], "CORE-HOURS": f"{s['core_hours']:.3f}",
             "MEMORY GB-HOURS": f"{s['gb_hours']:.3f}", "GPU-HOURS": f"{s['gpu_hours']:.3f}",
             "LAST ENDED": s["last_end_reason"] or "running"}
            for s in report["sessions"]]
    total = report["total"]
    rows.append({"SESSION": "total", "LAUNCHES": total["launches"],
                 "CORE-HOURS": f"{total['core_hours']:.3f}", "MEMORY GB-HOURS": f"{total['gb_hours']:.3f}",
                 "GPU-HOURS": f"{total['gpu_hours']:.3f}", "LAST ENDED": ""})
    source = accounting_name if report["source"] == "accounting" else "launch records"
    # GPU-hours only where some launch had GPUs: a column of zeros says nothing.
    gpus = ["GPU-HOURS"] if any(launch["gpus"] for launch in report["launches"]) else []
    return fit(rows, ["SESSION", "LAUNCHES", "CORE-HOURS", "MEMORY GB-HOURS", *gpus, "LAST ENDED"],
               shrinkable=(("SESSION", 12), ("LAST ENDED", 16))) + f"\n(from the {source}" + (
        f", since {report['since']})" if report["since"] else ")")


def run(site: Site, since: str | None = None, source: str = "auto", as_json: bool = False) -> int:
    """What the user's sessions used since ``since``, from their records or (``source``) the
    batch system's accounting."""
    found = sessions(site)
    # Sessions whose job ended without a word get their end recorded first (one question to the
    # batch system for all live records), so that none is counted as running for ever.
    statuses(found, site.backend)
    uses = accounting.from_records(found, _since(since))
    used = "records"
    wants_accounting = source == "accounting" or (source == "auto" and accounting.accounting_kept(uses))
    if wants_accounting:
        uses, used = accounting.from_accounting(uses), "accounting"
    report = summary(uses, used, since)
    if as_json:
        print_json(report)
    else:
        print(table(report, accounting.accounting_names(uses)))
    return 0
