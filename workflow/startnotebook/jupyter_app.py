"""The Jupyter server a session job runs: Jupyter Server (with JupyterLab) plus what a session needs.

Three things are added to a stock ``ServerApp``:

* The listening socket is bound once (port 0: the kernel picks a free port) and kept, so the port
  handed over is the port being served: no "find a free port, close it, bind again" race.
* Once listening, it writes the *handover file* (host, port, pid, job id) into the session folder:
  the only channel from the job back to the launch.
* The notebook timeout: the server stops once no kernel and no terminal has existed for
  ``notebook_timeout`` seconds. Jupyter's own ``shutdown_no_activity_timeout`` counts any API call
  as activity, so an open browser tab would keep the allocation forever.

This module runs inside the job (maybe inside a container): it imports only Jupyter, the
standard library and this package's dependency-free ``session`` module.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from jupyter_server.serverapp import ServerApp
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets
from traitlets import Integer, Unicode
from traitlets.config.loader import JSONFileConfigLoader

from .session import write_private_text

NODE_ADDRESS_VARIABLE = "STARTNOTEBOOK_NODE_ADDRESS"
#: The longest the notebook-timeout check may lag behind its deadline, in seconds.
WATCH_INTERVAL_MAX = 5


class SessionServerApp(ServerApp):
    # The inherited name "jupyter-server" keeps the user's jupyter_server_config.* in effect.
    description = "Jupyter Server for one startnotebook session"

    session_config_file = Unicode(
        "", config=True, help="JSON config written by the launch; it overrides the user's config."
    )
    handover_file = Unicode("", config=True, help="Where to write host and port once listening.")
    advertised_host = Unicode(
        "", config=True, help="Host name or address put in the handover file (default: bound ip)."
    )
    notebook_timeout = Integer(
        0, config=True, help="Stop once no kernel or terminal has existed for this many seconds."
    )

    def load_config_file(self, suppress_errors: bool = True) -> None:
        # The user's own jupyter_server_config.* in the session's .jupyter still applies; the
        # session's settings (password hash, timeouts, handover) are loaded last so they win.
        super().load_config_file(suppress_errors=suppress_errors)
        if self.session_config_file:
            path = Path(self.session_config_file)
            self.update_config(JSONFileConfigLoader(path.name, str(path.parent)).load_config())

    # --- one bind, kept -------------------------------------------------------------------
    def _find_http_port(self) -> None:
        self._session_sockets = bind_sockets(self.port, self.ip)
        self.port = self._session_sockets[0].getsockname()[1]

    def _bind_http_server_tcp(self) -> bool:
        self.http_server.add_sockets(self._session_sockets)
        try:
            self._write_handover()
        except OSError as error:
            # Without a handover nobody can find this server: end the job, say why.
            self.log.critical("Cannot hand over host and port: %s", error)
            self.stop()
        return True

    def _write_handover(self) -> None:
        if not self.handover_file:
            return
        record = {
            "host": self.advertised_host or self._own_address(),
            "port": self.port,
            "base_url": self.base_url,
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "job_id": os.environ.get("SLURM_JOB_ID", ""),
            "started": time.time(),
        }
        write_private_text(Path(self.handover_file), json.dumps(record, indent=2))

    def _own_address(self) -> str:
        """The address others reach this server at: the bound ip, or this node's address.

        The job script finds the node's address outside any container (whose name service may
        not know the node) and passes it in as STARTNOTEBOOK_NODE_ADDRESS.
        """
        if self.ip not in ("", "0.0.0.0", "::"):
            return self.ip
        return os.environ.get(NODE_ADDRESS_VARIABLE) or socket.gethostbyname(socket.gethostname())

    # --- notebook timeout -----------------------------------------------------------------
    def start_app(self) -> None:
        super().start_app()
        if self.notebook_timeout > 0:
            self._empty_since = time.monotonic()
            interval = min(WATCH_INTERVAL_MAX, max(1, self.notebook_timeout // 2))
            PeriodicCallback(self._stop_when_unused, interval * 1000).start()

    def _open_terminals(self) -> int:
        manager = self.web_app.settings.get("terminal_manager")
        return len(manager.terminals) if manager is not None else 0

    def _stop_when_unused(self) -> None:
        if len(self.kernel_manager.list_kernel_ids()) or self._open_terminals():
            self._empty_since = time.monotonic()
            return
        idle = time.monotonic() - self._empty_since
        if idle >= self.notebook_timeout:
            self.log.info("No kernel or terminal for %d s (notebook timeout): stopping.", idle)
            self.stop()


main = launch_new_instance = SessionServerApp.launch_instance

if __name__ == "__main__":
    main()
