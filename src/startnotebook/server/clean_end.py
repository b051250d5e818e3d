"""The session's clean end: every open document saved, then kernels and terminals shut, then exit.

Every end the server decides goes through ``CleanEnd.end_cleanly(reason)``: the wall time (a lead
time before the batch system would kill the job), the batch system's ``USR1`` (the safety net of
``--signal=B:USR1@LEAD``), the notebook timeout, "Stop session" in JupyterLab and ``startnotebook
stop``. Only then does the job end by itself, COMPLETED, with the reason in its record.

1. A save round. Every JupyterLab page of this session holds a long poll on
   ``GET /startnotebook/api/events?client=ID`` (the extension, labextension/); the round answers
   them all with ``{"save": true, ...}``. Each page saves its open documents and answers
   ``POST /startnotebook/api/saved`` with its round. The server waits for every page that was
   connected when the round began, at most ``save_wait`` seconds: a page that went away, or hangs,
   cannot hold the end.
2. ``ServerApp.stop()``: Jupyter shuts its kernels and terminals down and the event loop ends;
   server/__main__.py records the end (``end.json``) with the reason.

A page counts as connected while its poll is held and for ``RECONNECT_SECONDS`` after an answer
(the time it takes to ask again): a tab whose network went away stops counting soon.

Runs inside the job: Jupyter, the standard library and dependency-free modules of this package.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from traitlets import Integer
from traitlets.config import Configurable

#: How long a page's poll is held without news before it is answered "nothing" (and asked again).
POLL_HOLD_SECONDS = 25
#: A page whose poll was answered is still taken as connected this long (it asks again at once).
RECONNECT_SECONDS = 5
#: What a page's id may be (the extension makes a UUID per page load).
CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
#: The name under which Jupyter's authorizer sees this API (as server/session_api.py).
AUTH_RESOURCE = "startnotebook"


class CleanEnd(Configurable):
    """The save round and the end of the session's server (a part of server/app.py's app)."""

    save_wait = Integer(20, config=True,
                        help="Seconds the server waits for connected pages to save before it ends.")

    _ending: str | None = None
    _round = 0

    def _pages(self) -> dict[str, float | None]:
        """Each connected page: None while its poll is held, else when its last poll was answered."""
        if not hasattr(self, "_connected_pages"):
            self._connected_pages: dict[str, float | None] = {}
            self._saved_pages: set[str] = set()
            self._save_requested = asyncio.Event()
        return self._connected_pages

    def connected_pages(self) -> set[str]:
        now = time.monotonic()
        return {page for page, answered in self._pages().items()
                if answered is None or now - answered < RECONNECT_SECONDS}

    @property
    def ending(self) -> str | None:
        """Why the session is ending, once a clean end has begun."""
        return self._ending

    async def next_event(self, page: str) -> dict:
        """A page's long poll: the save round once one begins, else nothing after a while."""
        pages = self._pages()
        pages[page] = None
        try:
            await asyncio.wait_for(self._save_requested.wait(), POLL_HOLD_SECONDS)
        except asyncio.TimeoutError:
            pass
        finally:
            pages[page] = time.monotonic()
        if self._ending is None:
            return {"save": False}
        return {"save": True, "round": self._round, "reason": self._ending}

    def page_gone(self, page: str) -> None:
        """A page's poll connection closed before its answer: it no longer counts as connected."""
        self._pages().pop(page, None)

    def page_saved(self, page: str, round_: int) -> None:
        if round_ == self._round:
            self._saved_pages.add(page)

    async def end_cleanly(self, reason: str) -> None:
        """Save what connected pages hold, then stop the server (once, whoever asks first)."""
        if self._ending is not None:
            return
        self._ending = reason
        self.end_reason = reason
        expected = self.connected_pages()
        self._round += 1
        self._saved_pages = set()
        self.log.info("Ending (%s): asking %d connected page(s) to save their documents.",
                      reason, len(expected))
        self._save_requested.set()
        deadline = time.monotonic() + self.save_wait
        while expected - self._saved_pages and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        missing = expected - self._saved_pages
        if missing:
            self.log.warning("%d page(s) did not say they saved within %d s; ending anyway.",
                             len(missing), self.save_wait)
        else:
            self.log.info("Every connected page saved its documents; ending.")
        self.stop()


def page_of(handler: APIHandler) -> str:
    page = handler.get_query_argument("client", "")
    if not CLIENT_ID.match(page):
        raise web.HTTPError(400, "client: 1 to 64 letters, digits or '-'")
    return page


class EventsHandler(APIHandler):
    """``GET /startnotebook/api/events?client=ID``: held until the session asks pages to save."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self._page = page_of(self)
        self.set_header("Cache-Control", "no-store")
        answer = await self.serverapp.next_event(self._page)
        stream = getattr(self.request.connection, "stream", None)
        if stream is None or not stream.closed():  # a page that went away needs no answer
            self.finish(json.dumps(answer))

    def on_connection_close(self) -> None:
        if getattr(self, "_page", None) and self.serverapp.ending is None:
            self.serverapp.page_gone(self._page)


class SavedHandler(APIHandler):
    """``POST /startnotebook/api/saved?client=ID&round=N``: this page saved its documents."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def post(self) -> None:
        try:
            round_ = int(self.get_query_argument("round", ""))
        except ValueError:
            raise web.HTTPError(400, "round: an integer") from None
        self.serverapp.page_saved(page_of(self), round_)
        self.set_status(204)
        self.finish()


handlers = [
    (r"/startnotebook/api/events", EventsHandler),
    (r"/startnotebook/api/saved", SavedHandler),
]
