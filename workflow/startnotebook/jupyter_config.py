"""The Jupyter settings of one launch: login, where to listen, the timeouts, the handover file.

Culling, with exact meanings (documented in the README):

* kernel timeout: Jupyter's culler with ``cull_connected`` (an open tab does not protect an idle
  kernel) and not ``cull_busy`` (an executing kernel is never culled), checked often enough to be
  at most a few seconds late instead of Jupyter's default 5 minutes;
* notebook timeout: SessionServerApp.notebook_timeout (see jupyter_app).
"""

from __future__ import annotations

import json

from .session import SessionPaths, write_private_text
from .settings import SessionSettings

#: A timeout is checked at least this often (seconds), so it fires well within 15 s.
CHECK_INTERVAL_MAX = 5


def check_interval(timeout: int) -> int:
    return min(CHECK_INTERVAL_MAX, max(1, timeout // 2))


def jupyter_settings(
    settings: SessionSettings, paths: SessionPaths, password_hash: str, bind_ip: str, host: str
) -> dict:
    return {
        "ServerApp": {
            "ip": bind_ip,
            "port": 0,
            "root_dir": str(paths.folder),
            "default_url": "/lab",
            "open_browser": False,
            # Tests and some sites run as root; the session is the user's own either way.
            "allow_root": True,
            "allow_remote_access": True,
        },
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {"hashed_password": password_hash, "password_required": True},
        "MappingKernelManager": {
            "cull_idle_timeout": settings.kernel_timeout,
            "cull_interval": check_interval(settings.kernel_timeout),
            "cull_connected": True,
            "cull_busy": False,
        },
        "SessionServerApp": {
            "handover_file": str(paths.handover),
            "advertised_host": host,
            "notebook_timeout": settings.notebook_timeout,
        },
        # A compute node has no way out: do not let JupyterLab try.
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }


def write_jupyter_config(path, config: dict) -> None:
    write_private_text(path, json.dumps(config, indent=2))
