"""What the user reads: the connection banner and the ``--check`` summary."""

from __future__ import annotations

from pathlib import Path

from .backends import Backend
from .session import SessionPaths
from .settings import SessionSettings


def _access(connection: dict) -> str:
    # The original tool's wording: users and their scripts know these lines.
    return (
        "Access your notebook using the following parameters:\n"
        "\n"
        f"\turl : {connection['url']}\n"
        f"\tpass: {connection['password']}"
    )


def connection_banner(connection: dict) -> str:
    return "Notebook successfully launched!\n" + _access(connection)


def already_running(connection: dict) -> str:
    return (
        f"Notebook {connection['name']} is already running (job {connection['job_id']}); "
        "nothing new was started.\n" + _access(connection)
    )


def image_summary(settings: SessionSettings) -> str:
    if settings.container_runtime == "none":
        return "none (Jupyter from this tool's own Python environment)"
    image = Path(settings.container_image)
    if settings.container_build:
        from .image import image_state
        from .settings import recipe_folder

        return f"{image} ({image_state(image.parent, recipe_folder())})"
    return f"{image} (prebuilt, {'present' if image.exists() else 'MISSING'})"


def check_summary(settings: SessionSettings, backend: Backend, paths: SessionPaths) -> str:
    hours, minutes = divmod(settings.runtime, 60)
    lines = [
        ("session", settings.name),
        ("folder", settings.folder),
        ("flavour", settings.flavor),
        ("cpus", str(settings.cpus_per_task)),
        ("memory", f"{settings.mem_mb} MB"),
        ("wall time", f"{hours}:{minutes:02d}:00 ({settings.runtime} min)"),
        ("kernel timeout", f"{settings.kernel_timeout} s"),
        ("notebook timeout", f"{settings.notebook_timeout} s"),
        ("container", settings.container_runtime),
        ("image", image_summary(settings)),
        *backend.describe(settings, paths),
    ]
    width = max(len(label) for label, _ in lines)
    body = "\n".join(f"  {label:<{width}} : {value}" for label, value in lines)
    return f"Dry run (--check): nothing is started, nothing is written.\n{body}"
