"""What a session job runs: the Jupyter server command and its environment.

Every backend runs the same command; only the way it is started differs (a detached process,
an sbatch script). HOME is the session folder, as with the original tool, so that Jupyter,
IPython and ``pip install --user`` keep their state in ~/NAME. With a container runtime the
command runs inside the image (see containers.py).
"""

from __future__ import annotations

import sys

from . import resources
from .containers import IMAGE_PATH, PACKAGE_MOUNT, ContainerRun, existing_binds, get_runtime
from .session import SessionPaths
from .settings import SessionSettings


def _jupyter(python: str, paths: SessionPaths) -> list[str]:
    return [python, "-m", "startnotebook.jupyter_app",
            f"--SessionServerApp.session_config_file={paths.jupyter_config}"]


def session_environment(paths: SessionPaths) -> dict[str, str]:
    folder = paths.folder
    return {
        "HOME": str(folder),
        "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"),
        "JUPYTER_DATA_DIR": str(folder / ".local/share/jupyter"),
        # A runtime dir per session: `jupyter server list` elsewhere deletes files it cannot see.
        "JUPYTER_RUNTIME_DIR": str(folder / ".local/share/jupyter/runtime"),
        "IPYTHONDIR": str(folder / ".ipython"),
        "XDG_CONFIG_HOME": str(folder / ".config"),
        "XDG_DATA_HOME": str(folder / ".local/share"),
        "XDG_CACHE_HOME": str(folder / ".cache"),
        "MPLCONFIGDIR": str(folder / ".config/matplotlib"),
        "PYTHONUNBUFFERED": "1",
    }


def container_run(settings: SessionSettings, paths: SessionPaths) -> ContainerRun:
    env = {**session_environment(paths), "PYTHONPATH": PACKAGE_MOUNT, "PATH": IMAGE_PATH}
    binds = existing_binds(settings.container_binds, settings.folder)
    return ContainerRun(settings.container_image, binds, str(paths.folder), env)


def server_command(settings: SessionSettings, paths: SessionPaths) -> list[str]:
    if settings.container_runtime == "none":
        return _jupyter(sys.executable, paths)
    runtime = get_runtime(settings.container_runtime)
    return runtime.wrap(container_run(settings, paths), _jupyter(settings.container_python, paths))


def server_environment(settings: SessionSettings, paths: SessionPaths) -> dict[str, str]:
    """The environment the command is started with (the container gets its own on top)."""
    if settings.container_runtime == "none":
        return {**session_environment(paths), "PYTHONPATH": str(resources.package_parent())}
    return session_environment(paths)


def check_container(settings: SessionSettings) -> None:
    """ContainerError now, before any job exists, if the runtime or the image is missing."""
    if settings.container_runtime != "none":
        get_runtime(settings.container_runtime).check(settings.container_image)
