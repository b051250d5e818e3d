"""Password login that guessing cannot turn into a denial of service.

Jupyter checks a typed password with argon2 (~50 ms of CPU) on the server's only event loop: 50
wrong guesses a second would stall every kernel's traffic. Here the check runs in a worker thread
(argon2 releases the GIL), and a client (by address) that keeps failing waits longer for each
answer: nothing after ``FREE_FAILURES`` failures, then ``FIRST_DELAY`` seconds, doubling up to
``MAX_DELAY``. The wait is an asynchronous sleep, so other clients are served meanwhile; a
successful login forgets the client's failures.
"""

from __future__ import annotations

import asyncio
import time

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.login import LoginFormHandler

FREE_FAILURES = 5
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
#: Failures older than this are forgotten.
MEMORY_SECONDS = 15 * 60


class Throttle:
    """Failed logins per client, and how long the next answer to that client waits.

    An attempt counts as failed from the moment it arrives (and is forgiven if it succeeds): many
    guesses sent at once do not all pass before the first of them has failed.
    """

    def __init__(self) -> None:
        self.failures: dict[str, tuple[int, float]] = {}

    def attempt(self, client: str) -> float:
        """Count an attempt of ``client``; how long its answer must wait."""
        count, last = self.failures.get(client, (0, 0.0))
        if time.monotonic() - last > MEMORY_SECONDS:
            count = 0
        self.failures[client] = (count + 1, time.monotonic())
        if count < FREE_FAILURES:
            return 0.0
        return min(MAX_DELAY, FIRST_DELAY * 2 ** (count - FREE_FAILURES))

    def succeeded(self, client: str) -> None:
        self.failures.pop(client, None)


THROTTLE = Throttle()


class ThrottledLoginHandler(LoginFormHandler):
    """The login form, with the password checked off the event loop and guessing slowed down."""

    @allow_unauthenticated
    async def post(self) -> None:
        client = self.request.remote_ip or "?"
        delay = THROTTLE.attempt(client)
        if delay:
            await asyncio.sleep(delay)
        typed = self.get_argument("password", default="")
        provider = self.identity_provider
        correct = await asyncio.get_running_loop().run_in_executor(None, provider.passwd_check, typed)
        if not correct:
            self.log.warning("Failed login from %s", client)
            self.set_status(401)
            self._render(message={"error": "Invalid credentials"})
            return
        THROTTLE.succeeded(client)
        user = self.current_user = provider.generate_anonymous_user(self)
        self.log.info(f"User {user.username} logged in.")
        provider.set_login_cookie(self, user)
        self._redirect_safe(self.get_argument("next", default=self.base_url))
