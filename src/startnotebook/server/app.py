"""The Jupyter server of a session job: Jupyter Server (with JupyterLab) plus what a session needs.

Added to a stock ``ServerApp``:

* The listening socket is bound once (port 0: the kernel picks a free port) and kept, so the port
  handed over is the port being served. Stock Jupyter finds a free port, closes it and binds
  again, a window in which another server on the node can take it; closing that window needs
  the two private methods overridden below.
* Once listening, it writes the *handover* (host, port, scheme, certificate fingerprint, launch
  id, node, job id) into the launch record: the only channel from the job back to the launch.
* It proves it is this launch's server, without login: ``GET /startnotebook/api/proof?nonce=HEX``
  answers HMAC-SHA256(proof key, nonce || launch id), with the key from the launch's 0600 record
  (read once, at start). Nothing anyone can read without login names the launch, so a process
  that takes over the port of a dead session cannot pass for it (client.py never sends it the
  password).
* The notebook timeout: the server stops once no kernel and no terminal has existed for
  ``notebook_timeout`` seconds. Jupyter's own ``shutdown_no_activity_timeout`` counts any API
  call as activity, so an open browser tab would keep the allocation forever.
* ``activity.json`` in the launch record (kernels, terminals, idle since), for ``startnotebook
  list``, rewritten when it changes and at most every ``ACTIVITY_EVERY`` seconds otherwise.
* Every end it decides is a clean end (clean_end.py): open documents saved first.
* When it stops it records why (``end.json``).

This module runs inside the job (maybe inside a container): it imports only Jupyter, the standard
library and the dependency-free modules of this package (records, server.login).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
from datetime import datetime, timezone
from pathlib import Path

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets
from tornado.web import HTTPError
from traitlets import Integer, Unicode
from traitlets.config.loader import JSONFileConfigLoader

from ..sessions.records import LaunchRecord, write_json
from . import NODE_ADDRESS_VARIABLE, NONCE_MAX_BYTES, PROOF_PATH, check_interval, proof_of, sha256_fingerprint
from .clean_end import CleanEnd
from .session_api import SessionClock

ACTIVITY_EVERY = 60


def certificate_fingerprint(certfile: str) -> str:
    """SHA-256 of the server certificate (the first one in the PEM file), as browsers show it."""
    pem = Path(certfile).read_text()
    start = pem.index("-----BEGIN CERTIFICATE-----")
    end = pem.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return sha256_fingerprint(ssl.PEM_cert_to_DER_cert(pem[start:end]))


class ProofHandler(APIHandler):
    """Answers a client's challenge with the launch's proof; open to all (it is the only way to
    tell this server from an impostor before sending it the password), cheap, and only ever an
    HMAC: neither the key nor the launch id is in any answer."""

    def initialize(self, key: bytes, launch: str) -> None:
        self.key, self.launch = key, launch

    @allow_unauthenticated
    def get(self) -> None:
        self.finish(json.dumps({"proof": proof_of(self.key, self._nonce(), self.launch)}))

    def _nonce(self) -> bytes:
        text = self.get_query_argument("nonce", "")
        # Hex, and short: whatever a client sends costs one HMAC of a few bytes.
        if not 0 < len(text) <= 2 * NONCE_MAX_BYTES:
            raise HTTPError(400, f"nonce: 1 to {NONCE_MAX_BYTES} bytes in hex")
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise HTTPError(400, "nonce: not hex") from None


# SessionClock: the session's facts and its wall time's end, for the session API (session_api.py);
# CleanEnd: how every end the server decides saves the pages' documents first (clean_end.py).
class SessionServerApp(SessionClock, CleanEnd, ServerApp):
    # The inherited name "jupyter-server" keeps the user's jupyter_server_config.* in effect.
    description = "Jupyter Server for one startnotebook session"

    session_config_file = Unicode(
        "", config=True, help="JSON config written by the launch; it overrides the user's config."
    )
    launch_folder = Unicode("", config=True, help="The launch record this server belongs to.")
    launch_id = Unicode("", config=True, help="The launch's id, which the server's proof names.")
    advertised_host = Unicode(
        "", config=True, help="Host name or address put in the handover (default: the node's)."
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

    @property
    def record(self) -> LaunchRecord:
        return LaunchRecord(Path(self.launch_folder))

    # --- the proof -----------------------------------------------------------------------------
    def init_webapp(self) -> None:
        super().init_webapp()
        if not self.launch_folder:
            return
        key = self.record.proof_key()
        if key is None:
            # Without it no client of ours can tell this server from an impostor: it would never
            # be reported as running.
            self.log.critical("No proof key in %s: cannot prove this server is the session's",
                              self.record.proof_key_file)
            self.exit(1)
        self.web_app.add_handlers(".*$", [(url_path_join(self.base_url, PROOF_PATH), ProofHandler,
                                           {"key": key, "launch": self.launch_id})])

    # --- one bind, kept -------------------------------------------------------------------
    def _find_http_port(self) -> None:
        self._session_sockets = bind_sockets(self.port, self.ip)
        self.port = self._session_sockets[0].getsockname()[1]

    def _bind_http_server_tcp(self) -> bool:
        self.http_server.add_sockets(self._session_sockets)
        return True

    # --- handover -------------------------------------------------------------------------
    def start_app(self) -> None:
        super().start_app()
        # The socket listens already (bound in init_httpserver): connections wait in its backlog
        # until the event loop runs, so the handover may be written now.
        if self.launch_folder:
            try:
                write_json(self.record.handover_file, self._handover())
            except Exception as error:  # noqa: BLE001 - any failure means nobody can find us
                self.log.critical("Cannot hand over host and port: %s", error)
                self.exit(1)
        if self.notebook_timeout > 0:
            self._empty_since = time.monotonic()
            self._activity_written = (None, 0.0)
            PeriodicCallback(self._watch, check_interval(self.notebook_timeout) * 1000).start()

    @property
    def scheme(self) -> str:
        return "https" if self.certfile else "http"

    def _handover(self) -> dict:
        return {
            "launch": self.launch_id,
            "host": self.advertised_host or self._own_address(),
            "port": self.port,
            "scheme": self.scheme,
            "certificate_sha256": certificate_fingerprint(self.certfile) if self.certfile else None,
            "base_url": self.base_url,
            "pid": os.getpid(),
            "node": socket.gethostname(),
            "job_id": self.job_id,
            "started": time.time(),
        }

    def _own_address(self) -> str:
        """The address others reach this server at: the bound ip, or this node's address.

        The job script finds the node's address outside any container (whose name service may
        not know the node) and passes it in as STARTNOTEBOOK_NODE_ADDRESS.
        """
        if self.ip not in ("", "0.0.0.0", "::"):
            return self.ip
        return os.environ.get(NODE_ADDRESS_VARIABLE) or socket.gethostbyname(socket.gethostname())

    # --- notebook timeout and activity ------------------------------------------------------
    def _open_terminals(self) -> int:
        manager = self.web_app.settings.get("terminal_manager")
        return len(manager.terminals) if manager is not None else 0

    def _last_kernel_activity(self) -> float | None:
        kernels = (self.kernel_manager.get_kernel(kernel_id)
                   for kernel_id in self.kernel_manager.list_kernel_ids())
        times = [kernel.last_activity for kernel in kernels
                 if getattr(kernel, "last_activity", None) is not None]
        return max(times).timestamp() if times else None

    def _watch(self) -> None:
        kernels = len(self.kernel_manager.list_kernel_ids())
        terminals = self._open_terminals()
        self._write_activity(kernels, terminals)
        if kernels or terminals:
            self._empty_since = time.monotonic()
            return
        idle = time.monotonic() - self._empty_since
        if idle >= self.notebook_timeout:
            self.log.info("No kernel or terminal for %d s (notebook timeout): stopping.", idle)
            self.io_loop.add_callback(
                self.end_cleanly, f"notebook timeout: no kernel for {self.notebook_timeout} s")

    def _write_activity(self, kernels: int, terminals: int) -> None:
        if not self.launch_folder:
            return
        wall_empty_since = time.time() - (time.monotonic() - self._empty_since)
        idle_since = self._last_kernel_activity() if kernels else wall_empty_since
        state, written_at = self._activity_written
        if state == (kernels, terminals) and time.monotonic() - written_at < ACTIVITY_EVERY:
            return
        try:
            write_json(self.record.activity_file, {
                "kernels": kernels, "terminals": terminals,
                "idle_since": datetime.fromtimestamp(idle_since or time.time(), timezone.utc)
                .isoformat(timespec="seconds"),
            })
        except Exception as error:  # noqa: BLE001 - activity is for display only
            self.log.warning("Cannot record activity: %s", error)
        self._activity_written = ((kernels, terminals), time.monotonic())

    end_reason = "the server was stopped"

    def record_end(self) -> None:
        """Say how the session ended, where the launch and `startnotebook list` look."""
        if self.launch_folder and not self.record.end_file.exists():
            write_json(self.record.end_file, {"state": "ended", "reason": self.end_reason,
                                              "ended": time.time()})
