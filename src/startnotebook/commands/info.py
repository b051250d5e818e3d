"""``startnotebook info NAME [--json]``: everything about one session, and how to reach it."""

from __future__ import annotations

import time

from ..display.report import NO_PROFILE
from ..display.times import iso, notebook_timeout_left, wall_time_left
from ..sessions.status import SessionStatus, status_of
from ..settings.config import Site
from .common import existing_session, print_json


def describe(status: SessionStatus) -> dict:
    """``info --json`` (schemas/info.schema.json)."""
    launched, job, end = status.launched, status.job, status.end
    connection = status.connection or None
    return {
        "name": status.name,
        "state": status.state,
        "reason": status.reason,
        "connection": connection,
        "backend": status.backend,
        "profile": launched.get("profile"),
        "job_id": job.get("id"),
        "node": status.handover.get("node"),
        "flavor": launched.get("flavor"),
        "cpus_per_task": launched.get("cpus_per_task"),
        "mem_mb": launched.get("mem_mb"),
        # A record of before GPUs asked for none.
        "gpus": launched.get("gpus", 0) if launched else None,
        "gpu_type": launched.get("gpu_type"),
        "kernel_timeout": launched.get("kernel_timeout"),
        "notebook_timeout": launched.get("notebook_timeout"),
        "started": iso(status.started),
        "ended": iso(end.get("ended")),
        "time_left": status.time_left,
        "seconds_left": status.seconds_left,
        "folder": str(status.session.folder),
        "logs": {"server": str(status.session.server_log), "workflow": str(status.session.workflow_log)},
    }


def cpus(count: int | None) -> str:
    return f"{count} cpu" + ("" if count == 1 else "s")


def gpus(info: dict) -> str:
    """", 1 GPU" (", 2 GPUs a100") for a flavour with GPUs; "" without."""
    if not info["gpus"]:
        return ""
    kind = f" {info['gpu_type']}" if info["gpu_type"] else ""
    return f", {info['gpus']} GPU{'' if info['gpus'] == 1 else 's'}{kind}"


def ends(status: SessionStatus) -> list[tuple[str, str]]:
    """The session's ends ahead, in the words of JupyterLab's status bar."""
    lines = []
    if status.seconds_left is not None:
        lines.append(("wall time", wall_time_left(status.seconds_left)))
    activity, timeout = status.activity, status.launched.get("notebook_timeout")
    idle = status.idle_seconds
    if idle is None and status.state == "running" and not activity and status.started:
        idle = time.time() - status.started  # before the server's first activity record
    if (idle is not None and isinstance(timeout, int) and timeout > 0
            and not activity.get("kernels") and not activity.get("terminals")):
        lines.append(("notebook", notebook_timeout_left(timeout - idle)))
    return lines


def text(info: dict, ends_ahead: list[tuple[str, str]] = ()) -> str:
    connection = info["connection"]
    lines = [("session", f"{info['name']} ({info['state']}{': ' + info['reason'] if info['reason'] else ''})")]
    if connection:
        lines += [("url", connection["url"]), ("password", connection["password"])]
        if connection.get("certificate_sha256"):
            lines.append(("certificate", f"SHA-256 {connection['certificate_sha256']}"))
        lines += [("tunnel", connection["tunnel"]["command"]),
                  ("", f"then open {connection['tunnel']['local_url']} on your laptop")]
    lines += [
        ("job", f"{info['job_id'] or '-'} ({info['backend'] or '-'}){' on ' + info['node'] if info['node'] else ''}"),
        ("flavour", f"{info['flavor']} ({cpus(info['cpus_per_task'])}, {info['mem_mb']} MB{gpus(info)})"),
        ("timeouts", f"kernel {info['kernel_timeout']} s, notebook {info['notebook_timeout']} s"),
        ("started", info["started"] or "-"),
    ]
    if info["ended"]:
        lines.append(("ended", info["ended"]))
    lines += ends_ahead
    lines += [("profile", info["profile"] or NO_PROFILE), ("folder", info["folder"]),
              ("server log", info["logs"]["server"]), ("workflow log", info["logs"]["workflow"])]
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}} : {value}" if label else f"{'':<{width}}   {value}"
                     for label, value in lines)


def run(site: Site, name: str, as_json: bool = False) -> int:
    status = status_of(existing_session(site, name), site.backend)
    info = describe(status)
    if as_json:
        print_json(info)
    else:
        print(text(info, ends(status)))
    return 0
