"""The session's own API, for the JupyterLab extension (labextension/) and for anyone logged in.

    GET  /startnotebook/api/session   the session: name, launch, job, node, flavour, timeouts,
                                      each end ahead as an absolute time and what happens then,
                                      idle state (schemas/session-api.schema.json)
    POST /startnotebook/api/stop      the session ends cleanly (server/clean_end.py): open
                                      documents saved, kernels shut, the server exits
    GET  /startnotebook/api/events    a page's long poll for the save round (server/clean_end.py)
    POST /startnotebook/api/saved     a page's answer to it

Both need a login, like every Jupyter API (``@web.authenticated``, ``@authorized``); nothing
secret is in the answer. Jupyter Server loads the handlers from this module's
``default_handlers`` (its ``extra_services``, set in the session's config: jupyter_config.py).

``SessionClock`` is a part of the session's server (server/app.py): the traits the launch sets
(the session's name, backend, flavour, lead times of the warnings) and the wall time's end.
The end is the flavour's runtime from the job's start and, where the batch system can say it
(its backend's ``JobFromInside.ask_end``; SLURM: ``scontrol show job``), the job's real end, asked
once when the server starts and again every ``wall_time_recheck`` seconds (one question each, in
a worker thread: a slow controller never holds the event loop). ``save_before_wall_time``
seconds before that end the session ends cleanly (clean_end.py), and when the batch system's
``USR1`` comes first (the submission asks for it LEAD seconds before the end; it may come up to
``end_signal_early`` seconds earlier) it ends then, whatever the batch system said before.

Runs inside the job: Jupyter, the standard library and dependency-free modules of this package.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Integer, List, Unicode
from traitlets.config import Configurable

from ..jobs.backends import JobFromInside, from_inside
from ..sessions.records import LaunchRecord
from . import clean_end

#: The name under which Jupyter's authorizer sees this API.
AUTH_RESOURCE = clean_end.AUTH_RESOURCE
#: The reason a session that ended itself before its wall time records (list, info, usage).
WALL_TIME_REACHED = "wall time reached"
THEN = {
    "wall_time": "the session ends",
    "notebook_timeout": "the server stops unless a kernel starts",
    "kernel_idle": "the kernel is shut down unless it is used",
}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


class SessionClock(Configurable):
    """What the session's server knows of its session, and when its wall time ends."""

    session_name = Unicode("", config=True, help="The session's name.")
    backend = Unicode("local", config=True, help="The backend the job runs on (the site's backend setting).")
    flavour = Unicode("", config=True, help="The session's flavour.")
    cpus = Integer(0, config=True, help="The flavour's cores.")
    memory_mb = Integer(0, config=True, help="The flavour's memory in MB.")
    wall_time_minutes = Integer(0, config=True, help="The flavour's wall-time limit (0: none).")
    gpus = Integer(0, config=True, help="The flavour's GPUs (0: none).")
    warn_before_wall_time = List(
        Integer(), config=True, help="Seconds before the wall time's end at which users are warned.")
    warn_before_notebook_timeout = List(
        Integer(), config=True, help="Seconds before the notebook timeout at which users are warned.")
    warn_before_kernel_cull = List(
        Integer(), config=True, help="Seconds before an idle kernel's cull at which its notebook says so.")
    save_before_wall_time = Integer(
        60, config=True, help="Seconds before the wall time's end at which the session ends cleanly.")
    wall_time_recheck = Integer(
        600, config=True, help="Seconds between lookups of the job's end, where the batch system can say it.")

    _job_started: float | None = None
    _wall_time_end: float | None = None
    _controller_answered = False
    _clean_end_timer: object | None = None

    def start_app(self) -> None:
        super().start_app()
        self.start_clock()

    def init_signal(self) -> None:
        super().init_signal()
        # Jupyter prints its server list on USR1; here it is the batch system's word that the end
        # is near (the job script passes it on).
        signal.signal(signal.SIGUSR1, self._wall_time_signalled)

    def start_clock(self) -> None:
        """Know when the wall time ends: the flavour's runtime now, the controller's word soon."""
        started = self._start_record().get("started")
        self._job_started = started if isinstance(started, (int, float)) else time.time()
        if self.wall_time_minutes > 0:
            self._wall_time_end = self._job_started + self.wall_time_minutes * 60
            self._schedule_clean_end()
        if self.inside.ask_end is not None and self.job_id:
            IOLoop.current().add_callback(self._ask_batch_system)
            PeriodicCallback(self._ask_batch_system, self.wall_time_recheck * 1000).start()

    @property
    def inside(self) -> JobFromInside:
        return from_inside(self.backend)

    async def _ask_batch_system(self) -> None:
        end = await asyncio.get_running_loop().run_in_executor(None, self.inside.ask_end, self.job_id)
        if end is not None and (end != self._wall_time_end or not self._controller_answered):
            self.log.info("The job ends at %s (as the controller says).", iso(end))
            self._wall_time_end, self._controller_answered = end, True
            self._schedule_clean_end()

    def _schedule_clean_end(self) -> None:
        """The clean end at save_before_wall_time before the wall time's end (again if it moved)."""
        loop = IOLoop.current()
        if self._clean_end_timer is not None:
            loop.remove_timeout(self._clean_end_timer)
        at = self._wall_time_end - self.save_before_wall_time
        self._clean_end_timer = loop.call_at(
            loop.time() + max(0.0, at - time.time()),
            lambda: loop.spawn_callback(self.end_cleanly, WALL_TIME_REACHED))

    def _wall_time_signalled(self, signum, frame) -> None:
        self.io_loop.add_callback_from_signal(self._wall_time_near)

    def _wall_time_near(self) -> None:
        """The batch system's USR1: the end is at most save_before_wall_time + end_signal_early
        seconds away. An end we know later than that is out of date (an admin moved it): end
        now, not then."""
        within = self.save_before_wall_time + self.inside.end_signal_early
        if self._wall_time_end is None or self._wall_time_end > time.time() + within:
            self.log.info("The batch system says the wall time ends within %d s: ending now.", within)
            self._wall_time_end = time.time() + self.save_before_wall_time
            self._schedule_clean_end()

    def _start_record(self) -> dict:
        folder = getattr(self, "launch_folder", "")
        return (LaunchRecord(Path(folder)).start() or {}) if folder else {}

    @property
    def job_id(self) -> str:
        return self.inside.job_id() or str(self._start_record().get("job_id", ""))

    # --- the answer of GET /startnotebook/api/session -----------------------------------------
    def describe(self) -> dict:
        now = time.time()
        kernels, terminals = len(self.kernel_manager.list_kernel_ids()), self._open_terminals()
        return {
            "name": self.session_name,
            "launch": self.launch_id,
            "backend": self.backend,
            "job_id": self.job_id,
            "node": socket.gethostname(),
            "flavour": {"name": self.flavour, "cpus": self.cpus, "memory_mb": self.memory_mb,
                        "wall_time_minutes": self.wall_time_minutes, "gpus": self.gpus},
            "timeouts": {"kernel": int(self.kernel_manager.cull_idle_timeout),
                         "notebook": self.notebook_timeout},
            "now": iso(now),
            "deadlines": self._deadlines(kernels, terminals),
            "ending": self.ending,
            "idle": {"kernels": kernels, "terminals": terminals,
                     "idle_since": iso(self._idle_since(kernels, now))},
        }

    def _deadlines(self, kernels: int, terminals: int) -> list[dict]:
        deadlines = []
        if self._wall_time_end is not None:
            whole = self._wall_time_end - (self._job_started or time.time())
            deadlines.append({**deadline("wall_time", self._wall_time_end,
                                         self.warn_before_wall_time, whole),
                              "save_before": self.save_before_wall_time})
        empty_end = self._notebook_timeout_end()
        if empty_end is not None and not kernels and not terminals:
            deadlines.append(deadline("notebook_timeout", empty_end,
                                      self.warn_before_notebook_timeout, self.notebook_timeout))
        deadlines.extend(self._kernel_culls())
        return deadlines

    def _notebook_timeout_end(self) -> float | None:
        """When the server stops if no kernel starts (the watch in server/app.py decides it)."""
        empty_since = getattr(self, "_empty_since", None)
        if self.notebook_timeout <= 0 or empty_since is None:
            return None
        return time.time() - (time.monotonic() - empty_since) + self.notebook_timeout

    def _kernel_culls(self) -> list[dict]:
        """Each idle kernel's cull, as Jupyter's culler does it (a busy kernel is never culled)."""
        timeout = self.kernel_manager.cull_idle_timeout
        if timeout <= 0:
            return []
        culls = []
        for kernel_id in self.kernel_manager.list_kernel_ids():
            kernel = self.kernel_manager.get_kernel(kernel_id)
            last = getattr(kernel, "last_activity", None)
            if last is None or getattr(kernel, "execution_state", "") == "busy":
                continue
            culls.append({**deadline("kernel_idle", last.timestamp() + timeout,
                                     self.warn_before_kernel_cull, timeout),
                          "kernel": kernel_id})
        return culls

    def _idle_since(self, kernels: int, now: float) -> float:
        if kernels:
            return self._last_kernel_activity() or now
        empty_since = getattr(self, "_empty_since", None)
        return now - (time.monotonic() - empty_since) if empty_since is not None else now


def deadline(kind: str, at: float, lead_times: list[int], whole: float) -> dict:
    """An end ahead; a warning whose lead time is not shorter than the whole span is skipped."""
    return {"kind": kind, "at": iso(at), "then": THEN[kind],
            "warn_before": sorted((lead for lead in lead_times if lead < whole), reverse=True)}


class SessionHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(self.serverapp.describe()))


#: Why a session is stopped through the API: JupyterLab's menu, or `startnotebook stop`.
STOP_REASONS = ("stopped from JupyterLab (Stop session)", "stopped with startnotebook stop")


class StopHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def post(self) -> None:
        app = self.serverapp
        reason = self.get_query_argument("reason", "") or "stopped from JupyterLab (Stop session)"
        if reason not in STOP_REASONS:
            raise web.HTTPError(400, f"reason: one of {', '.join(STOP_REASONS)}")
        self.log.info("Stopping on the user's request (%s).", reason)
        self.set_status(202)
        self.finish(json.dumps({"stopping": True}))
        # After the answer has gone out: the same clean end as every other.
        app.io_loop.add_callback(app.end_cleanly, reason)


default_handlers = [
    (r"/startnotebook/api/session", SessionHandler),
    (r"/startnotebook/api/stop", StopHandler),
    *clean_end.handlers,
]
