"""``startnotebook info NAME [--json]``: everything about one session, and how to reach it."""

from __future__ import annotations

from ..report import NO_PROFILE, enforces_wall_time, wall_time
from ..status import SessionStatus, status_of
from ..times import iso
from .common import existing_session, parser, print_json, site_of


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
        "kernel_timeout": launched.get("kernel_timeout"),
        "notebook_timeout": launched.get("notebook_timeout"),
        "started": iso(status.started),
        "ended": iso(end.get("ended")),
        "time_left": status.time_left,
        "folder": str(status.session.folder),
        "logs": {"server": str(status.session.server_log), "workflow": str(status.session.workflow_log)},
    }


def cpus(count: int | None) -> str:
    return f"{count} cpu" + ("" if count == 1 else "s")


def unenforced_wall_time(status: SessionStatus) -> str | None:
    """The wall time of a live session whose backend does not keep it (shown instead of the time
    left, which such a session does not have)."""
    runtime = status.launched.get("runtime")
    if not status.live or not isinstance(runtime, int) or enforces_wall_time(status.backend):
        return None
    return wall_time(runtime, enforced=False)


def text(info: dict, unenforced: str | None = None) -> str:
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
        ("flavour", f"{info['flavor']} ({cpus(info['cpus_per_task'])}, {info['mem_mb']} MB)"),
        ("timeouts", f"kernel {info['kernel_timeout']} s, notebook {info['notebook_timeout']} s"),
        ("started", info["started"] or "-"),
    ]
    if info["ended"]:
        lines.append(("ended", info["ended"]))
    if info["time_left"]:
        lines.append(("time left", info["time_left"]))
    elif unenforced:
        lines.append(("wall time", unenforced))
    lines += [("profile", info["profile"] or NO_PROFILE), ("folder", info["folder"]),
              ("server log", info["logs"]["server"]), ("workflow log", info["logs"]["workflow"])]
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}} : {value}" if label else f"{'':<{width}}   {value}"
                     for label, value in lines)


def main(argv: list[str]) -> int:
    command = parser("info", "One session: its URL, password, SSH tunnel, job, resources, logs.")
    command.add_argument("name")
    command.add_argument("--json", action="store_true", help="JSON (schemas/info.schema.json)")
    args = command.parse_args(argv)
    site = site_of(args)
    status = status_of(existing_session(site, args.name), site.backend)
    info = describe(status)
    if args.json:
        print_json(info)
    else:
        print(text(info, unenforced_wall_time(status)))
    return 0
