"""How to reach a running session: the connection record (schemas/connection.schema.json).

Written into the launch record once the server answers; printed by ``--json`` and ``info``; shown
as the banner. It always carries the SSH tunnel command: compute nodes are rarely reachable from
a laptop, and the site says whether they are (``nodes_reachable``).
"""

from __future__ import annotations

import socket
import time

from ..display.times import iso
from ..settings.config import Site
from .client import Server
from .folders import user_name


def login_host(site: Site) -> str:
    return site.login_host or socket.getfqdn()


def tunnel(site: Site, server: Server) -> dict:
    """The command that brings the server to the laptop's localhost, and the URL to open there."""
    user = user_name()
    port = server.port
    return {
        "command": f"ssh -N -L {port}:{server.host}:{port} {user}@{login_host(site)}",
        "local_url": f"{server.scheme}://localhost:{port}{server.base_url.rstrip('/')}",
    }


def connection_record(plan, handover: dict, password: str) -> dict:
    """The connection JSON of a launch (``plan``: launching.LaunchPlan) whose server answers."""
    server = Server.from_handover(handover, plan.record)
    settings, flavour = plan.settings, plan.settings.flavour
    return {
        "name": settings.name,
        "url": server.url,
        "host": server.host,
        "port": server.port,
        "scheme": server.scheme,
        "certificate_sha256": server.fingerprint,
        "password": password,
        "tunnel": tunnel(plan.site, server),
        "folder": str(plan.session.folder),
        "backend": plan.site.backend,
        "profile": str(plan.site.profile) if plan.site.profile else None,
        "job_id": plan.job["id"],
        "node": handover.get("node", ""),
        "launch": plan.record.id,
        "flavor": flavour.name,
        "cpus_per_task": flavour.cpus_per_task,
        "mem_mb": flavour.mem_mb,
        "runtime": flavour.runtime,
        "kernel_timeout": settings.kernel_timeout,
        "notebook_timeout": settings.notebook_timeout,
        "started": iso(handover.get("started") or time.time()),
    }
