"""Password login that guessing cannot turn into a denial of service, for anyone.

Jupyter checks a typed password with argon2 (~50 ms of CPU) on the server's only event loop: 50
wrong guesses a second would stall every kernel's traffic. Here the check runs in a worker thread
(argon2 releases the GIL), and only the answers to wrong guesses are delayed: a client (by
address) that keeps failing waits longer for each "wrong password", nothing for its first
``FREE_FAILURES`` failures, then ``FIRST_DELAY`` seconds, doubling up to ``MAX_DELAY``. The wait
is an asynchronous sleep, so other clients are served meanwhile.

A correct password is never delayed: everyone on a login node (and every SSH tunnel) comes from
one address, so delaying by address before the check would let one user's guesses lock another
out of their own session. The passwords have 144 bits; the throttle is against noise, not
against a guesser with a chance.
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
    """Failed logins per client, and how long the answer to its latest failure waits.

    Guesses sent at once are counted one by one as each fails, so they do not all pass unslowed.
    """

    def __init__(self) -> None:
        self.failures: dict[str, tuple[int, float]] = {}

    def failed(self, client: str) -> float:
        """Count a failed login of ``client``; how long its answer must wait."""
        count, last = self.failures.get(client, (0, 0.0))
        if time.monotonic() - last > MEMORY_SECONDS:
            count = 0
        self.failures[client] = (count + 1, time.monotonic())
        if count < FREE_FAILURES:
            return 0.0
        return min(MAX_DELAY, FIRST_DELAY * 2 ** (count - FREE_FAILURES))


THROTTLE = Throttle()


class ThrottledLoginHandler(LoginFormHandler):
    """The login form, with the password checked off the event loop and wrong guesses slowed down."""

    @allow_unauthenticated
    async def post(self) -> None:
        client = self.request.remote_ip or "?"
        typed = self.get_argument("password", default="")
        provider = self.identity_provider
        correct = await asyncio.get_running_loop().run_in_executor(None, provider.passwd_check, typed)
        if not correct:
            # Only a failure waits; the failures of others at this address never delay a right password.
            delay = THROTTLE.failed(client)
            if delay:
                await asyncio.sleep(delay)
            self.log.warning("Failed login from %s", client)
            self.set_status(401)
            self._render(message={"error": "Invalid credentials"})
            return
        user = self.current_user = provider.generate_anonymous_user(self)
        self.log.info(f"User {user.username} logged in.")
        provider.set_login_cookie(self, user)
        self._redirect_safe(self.get_argument("next", default=self.base_url))
