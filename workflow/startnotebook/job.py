"""What a session job runs: the Jupyter server command and its environment.

Every backend runs the same command; only the way it is started differs (a detached process,
an sbatch script). HOME is the session folder, as with the original tool, so that Jupyter,
IPython and ``pip install --user`` keep their state in ~/NAME.
"""

from __future__ import annotations

import sys

from . import resources
from .session import SessionPaths


def server_command(paths: SessionPaths, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "startnotebook.jupyter_app",
        f"--SessionServerApp.session_config_file={paths.jupyter_config}",
    ]


def server_environment(paths: SessionPaths) -> dict[str, str]:
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
        "PYTHONPATH": str(resources.package_parent()),
        "PYTHONUNBUFFERED": "1",
    }
