"""What the user reads: the connection banner and the ``--check`` summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (list and info read enforces_wall_time; they need no launch machinery)
    from .launching import LaunchPlan

#: What --check and info say when no profile applies: the shipped defaults, whose backend is local.
NO_PROFILE = "none (this machine)"
#: What --check, info and list say of a wall time that the backend does not keep (local).
NOT_ENFORCED = "not enforced on this machine"


def wall_time(minutes: int, enforced: bool) -> str:
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:00" + ("" if enforced else f" ({NOT_ENFORCED})")


def enforces_wall_time(backend: str | None) -> bool:
    """Whether the backend a session's records name ends its job at the wall time. A record that
    names no backend, or one unknown here, is taken to (nothing more is said of it)."""
    from .backends import get_backend
    from .errors import ConfigError

    try:
        return get_backend(backend).enforces_wall_time if backend else True
    except ConfigError:
        return True


def _access(connection: dict, tunnel: bool) -> str:
    # The original tool's wording: users and their scripts know these lines.
    lines = [
        "Access your notebook using the following parameters:",
        "",
        f"\turl : {connection['url']}",
        f"\tpass: {connection['password']}",
    ]
    if connection.get("certificate_sha256"):
        lines.append(f"\tsha256 fingerprint of its certificate: {connection['certificate_sha256']}")
    if tunnel:
        lines += [
            "",
            "The node is not reachable from your laptop directly: run there",
            f"\t{connection['tunnel']['command']}",
            f"then open {connection['tunnel']['local_url']}",
        ]
    return "\n".join(lines)


def connection_banner(connection: dict, tunnel: bool = False) -> str:
    return "Notebook successfully launched!\n" + _access(connection, tunnel)


def already_running(connection: dict, tunnel: bool = False) -> str:
    return (
        f"Notebook {connection['name']} is already running (job {connection['job_id']}); "
        "nothing new was started.\n" + _access(connection, tunnel)
    )


def image_summary(plan: LaunchPlan) -> str:
    container = plan.container
    if container.runtime == "none":
        return "none (Jupyter from this tool's own Python environment)"
    if plan.recipe is not None:
        from .image import image_state

        return f"{container.image} ({image_state(plan.image.parent, plan.recipe)}; recipe {plan.recipe})"
    return f"{container.image} (prebuilt, {'present' if Path(container.image).exists() else 'MISSING'})"


def check_summary(plan: LaunchPlan) -> str:
    settings, flavour = plan.settings, plan.settings.flavour
    lines = [
        ("session", settings.name),
        ("folder", str(plan.session.folder)),
        ("profile", str(plan.site.profile) if plan.site.profile else NO_PROFILE),
        ("flavour", flavour.name),
        ("cpus", str(flavour.cpus_per_task)),
        ("memory", f"{flavour.mem_mb} MB"),
        ("wall time", wall_time(flavour.runtime, plan.backend.enforces_wall_time)),
        ("kernel timeout", f"{settings.kernel_timeout} s"),
        ("notebook timeout", f"{settings.notebook_timeout} s"),
        ("tls", "https" if settings.tls else "off (http)"),
        ("container", plan.container.runtime),
        ("image", image_summary(plan)),
        *plan.backend.describe(plan.job_spec()),
    ]
    if settings.notebooks:
        lines.append(("notebooks", ", ".join(settings.notebooks)))
    if any("://" in notebook for notebook in settings.notebooks):
        fetch = plan.site.notebook_fetch
        lines.append(("notebook fetch", f"up to {fetch.max_mb} MB, {fetch.timeout} s timeout"))
    width = max(len(label) for label, _ in lines)
    body = "\n".join(f"  {label:<{width}} : {value}" for label, value in lines)
    return f"Dry run (--check): nothing is started, nothing is written.\n{body}"
