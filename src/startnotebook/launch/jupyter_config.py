"""The Jupyter settings of one launch: login, where to listen, the timeouts, what to load.

Culling, with exact meanings (documented in the README):

* kernel timeout: Jupyter's culler with ``cull_connected`` (an open tab does not protect an idle
  kernel) and not ``cull_busy`` (an executing kernel is never culled), checked often enough to be
  at most a few seconds late instead of Jupyter's default 5 minutes;
* notebook timeout: SessionServerApp.notebook_timeout (see server/app.py).

Server extensions: JupyterLab and terminals, which a notebook user sees; not jupyter_lsp (it
looks for language servers at every start, and the image has none) nor notebook_shim (a bridge for
classic-notebook extensions, of which there are none). Measured in benchmarks/server_start.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ..server import check_interval
from ..sessions.records import LaunchRecord, write_private
from ..settings.session_settings import SessionSettings

EXTENSIONS = {"jupyterlab": True, "jupyter_server_terminals": True,
              "jupyter_lsp": False, "notebook_shim": False}
#: The session's own API (its handlers; the JupyterLab extension asks it).
SESSION_API = "startnotebook.server.session_api"
#: The session's kernel specs, with the project's environments' (server/kernels.py).
KERNEL_SPECS = "startnotebook.server.kernels.SessionKernelSpecManager"


def jupyter_settings(settings: SessionSettings, folder, record: LaunchRecord, password_hash: str,
                     bind_ip: str, host: str, tls_files: tuple[str, str] | None,
                     backend: str = "local", warnings: Mapping[str, Sequence[int]] = {},
                     save_before_wall_time: int = 60, wall_time_recheck: int = 600,
                     kernel_dirs: Sequence[str] = (), own_kernels: Sequence[str] = ()) -> dict:
    server = {
        "ip": bind_ip,
        "port": 0,
        "port_retries": 0,
        "root_dir": str(folder),
        "default_url": "/lab",
        "open_browser": False,
        # Tests and some sites run as root; the session is the user's own either way.
        "allow_root": True,
        "allow_remote_access": True,
        "jpserver_extensions": EXTENSIONS,
        "extra_services": [SESSION_API],
        "kernel_spec_manager_class": KERNEL_SPECS,
    }
    if tls_files is not None:
        server["certfile"], server["keyfile"] = tls_files
    return {
        "ServerApp": server,
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {
            "hashed_password": password_hash,
            "password_required": True,
            "login_handler_class": "startnotebook.server.login.ThrottledLoginHandler",
        },
        "SessionKernelSpecManager": {"project_kernel_dirs": list(kernel_dirs), "own_kernels": list(own_kernels)},
        "MappingKernelManager": {
            "cull_idle_timeout": settings.kernel_timeout,
            "cull_interval": check_interval(settings.kernel_timeout),
            "cull_connected": True,
            "cull_busy": False,
        },
        "SessionServerApp": {
            "launch_folder": str(record.folder),
            "launch_id": record.id,
            "advertised_host": host,
            "notebook_timeout": settings.notebook_timeout,
            **session_facts(settings, backend, warnings),
            "save_before_wall_time": save_before_wall_time,
            "wall_time_recheck": wall_time_recheck,
        },
        # A compute node has no way out: JupyterLab must not try (news, updates, npm).
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "extension_manager": "readonly"},
    }


def session_facts(settings: SessionSettings, backend: str,
                  warnings: Mapping[str, Sequence[int]]) -> dict:
    """What the session API tells (server/session_api.py's SessionClock)."""
    return {
        "session_name": settings.name,
        "backend": backend,
        "flavour": settings.flavour.name,
        "cpus": settings.flavour.cpus_per_task,
        "memory_mb": settings.flavour.mem_mb,
        "wall_time_minutes": settings.flavour.runtime,
        "gpus": settings.flavour.gpus,
        "warn_before_wall_time": list(warnings.get("before_wall_time", ())),
        "warn_before_notebook_timeout": list(warnings.get("before_notebook_timeout", ())),
        "warn_before_kernel_cull": list(warnings.get("before_kernel_cull", ())),
    }


def write_jupyter_config(record: LaunchRecord, config: dict) -> None:
    write_private(record.jupyter_config_file, json.dumps(config, indent=2))
