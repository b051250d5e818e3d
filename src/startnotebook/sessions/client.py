"""Talking to a session's server from our side: is it there, is it this launch's, stop it.

A server is this launch's only once it has *proven* it: we send a fresh random nonce to
``/startnotebook/api/proof`` and it must answer HMAC-SHA256(key, nonce || launch id) with the
launch's proof key, which is in the launch's 0600 record and never on the wire (server/app.py).
Anything else that answers on the record's port (another user's process on a dead session's
port) is an :class:`Impostor`: it is never reported as the session, never sent the password,
never shut down. The password is sent only on the connection on which the proof was just passed
(keep-alive, never reopened), so the server cannot change between the proof and the login.

Whatever the server speaks (http, or https with the session's, the site's or the user's own
certificate), we speak too: an https server is also trusted by the certificate fingerprint it
wrote into its handover (a file in the user's private session folder), not by a CA; a second,
independent proof. Connections go straight to the node: a login node's http_proxy is for the
outside world.
"""

from __future__ import annotations

import hmac
import http.client
import json
import secrets
import ssl
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Callable, Iterator, Sequence, TypeVar

from ..server import NONCE_BYTES, PROOF_PATH, STOP_PATH, proof_of, sha256_fingerprint
from .records import LaunchRecord

TIMEOUT = 5
#: Servers asked at once by :func:`concurrently` (each thread mostly waits on one round trip).
AT_ONCE = 32

T = TypeVar("T")
R = TypeVar("R")


class Unreachable(Exception):
    """The server does not answer, or is not who the record says it is."""


class Impostor(Unreachable):
    """Something answers where the session's server should, and it is not the session's."""


@dataclass(frozen=True)
class Server:
    """A session's server, as its handover describes it, and what it must prove."""

    scheme: str
    host: str
    port: int
    base_url: str = "/"
    fingerprint: str | None = None  # SHA-256 of its certificate, "AB:CD:..."
    launch: str = ""  # the launch id its proof names
    proof_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_handover(cls, handover: dict, record: LaunchRecord) -> "Server":
        """The server ``record``'s handover describes; it must prove it is ``record``'s."""
        return cls(handover.get("scheme", "http"), handover["host"], int(handover["port"]),
                   handover.get("base_url", "/"), handover.get("certificate_sha256"),
                   record.id, record.proof_key())

    @property
    def url(self) -> str:
        """The URL as the user types it: SCHEME://HOST:PORT (plus the base path, if any)."""
        return f"{self.scheme}://{self.host}:{self.port}{self.base_url.rstrip('/')}"

    def impostor(self, why: str = "") -> Impostor:
        return Impostor(f"something else answers on port {self.port}{why}")

    # --- one connection ---------------------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        try:
            if self.scheme == "http":
                connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
                connection.connect()
            else:
                connection = self._connect_tls()
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as error:
            raise Unreachable(f"{self.url} does not answer: {error}") from error
        except ssl.SSLError as error:
            raise self.impostor(" (it does not speak the session's TLS)") from error
        except OSError as error:
            raise Unreachable(f"{self.url} does not answer: {error}") from error
        # Never reconnect behind our back: the proof holds for this connection only.
        connection.auto_open = 0
        return connection

    def _connect_tls(self) -> http.client.HTTPSConnection:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # trust comes from the pinned fingerprint, below
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT, context=context)
        connection.connect()
        presented = connection.sock.getpeercert(binary_form=True)
        if self.fingerprint is None or sha256_fingerprint(presented) != self.fingerprint:
            connection.close()
            raise self.impostor(" (its certificate is not the session's)")
        return connection

    @contextmanager
    def proven(self) -> Iterator["Exchange"]:
        """One connection to this server, on which it has just proven it is the launch's."""
        connection = self._connect()
        try:
            exchange = Exchange(self, connection)
            exchange.prove()
            yield exchange
        finally:
            connection.close()

    # --- what the commands ask ----------------------------------------------------------------------
    def check(self) -> Unreachable | None:
        """None if this launch's server answers and proves it; otherwise what is wrong (an
        :class:`Impostor` if something else answers)."""
        try:
            with self.proven():
                return None
        except Unreachable as problem:
            return problem

    def answers(self) -> bool:
        """Does this launch's server answer, and prove it is this launch's?"""
        return self.check() is None

    def login(self, password: str) -> dict:
        """Log in (after the proof) as a browser does; the headers that authenticate later requests."""
        with self.proven() as exchange:
            return exchange.login(password)

    def shutdown(self, password: str) -> None:
        """Ask the server to end the session cleanly (its pages save their documents, then its
        kernels shut down and it exits: server/clean_end.py), after its proof, on the same
        connection. A server of an earlier version, without that API, gets Jupyter's /api/shutdown."""
        with self.proven() as exchange:
            headers = exchange.login(password)
            status, _, body = exchange.request("POST", STOP_PATH, b"", headers)
            if status == 404:
                status, _, body = exchange.request("POST", "/api/shutdown", b"", headers)
            if status not in (200, 202, 204):
                raise Unreachable(f"{self.url} refused to shut down ({status}): {body[:200]!r}")


class Exchange:
    """Requests on one open connection to a server."""

    def __init__(self, server: Server, connection: http.client.HTTPConnection):
        self.server, self.connection = server, connection

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        try:
            self.connection.request(method, self.server.base_url.rstrip("/") + path, body=body,
                                    headers=headers or {})
            response = self.connection.getresponse()
            return response.status, response.msg, response.read()
        except (ConnectionError, TimeoutError, http.client.NotConnected, http.client.RemoteDisconnected) as error:
            raise Unreachable(f"{self.server.url} does not answer: {error}") from error
        except (OSError, http.client.HTTPException) as error:
            raise self.server.impostor(f" (it does not speak HTTP: {error})") from error

    def prove(self) -> None:
        """Impostor unless the server answers a fresh nonce with the launch's proof."""
        key = self.server.proof_key
        nonce = secrets.token_bytes(NONCE_BYTES)
        status, _, body = self.request("GET", f"{PROOF_PATH}?nonce={nonce.hex()}")
        if key is None:
            raise self.server.impostor(" (and the launch's record has no proof key to tell)")
        if status != 200 or not hmac.compare_digest(_proof_in(body), proof_of(key, nonce, self.server.launch)):
            raise self.server.impostor()

    def login(self, password: str) -> dict:
        status, headers, _ = self.request("GET", "/login")
        cookies = _cookies(headers)
        xsrf = cookies.get("_xsrf", "")
        form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
        status, headers, _ = self.request("POST", "/login", form, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": _cookie_header(cookies)})
        if status != 302:
            raise Unreachable(f"{self.server.url} refused the password on record")
        cookies.update(_cookies(headers))
        return {"Cookie": _cookie_header(cookies), "X-XSRFToken": xsrf}


def _proof_in(body: bytes) -> str:
    """The proof in a server's answer; "" if the answer is not one."""
    try:
        answer = json.loads(body)
    except ValueError:
        return ""
    proof = answer.get("proof") if isinstance(answer, dict) else None
    return proof if isinstance(proof, str) and proof.isascii() else ""


def _cookies(headers: http.client.HTTPMessage) -> dict:
    jar = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or ():
        jar.load(value)
    return {key: morsel.value for key, morsel in jar.items()}


def _cookie_header(cookies: dict) -> str:
    return "; ".join(f"{key}={value}" for key, value in cookies.items())


def concurrently(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work(item)`` for each item, in threads at once, the results in the items' order; the
    first exception is raised. For work that waits on servers (a proof is one HTTP round trip,
    up to TIMEOUT for a server that hangs): `list` of 20 running sessions waits for the slowest
    answer, not for all of them one after the other."""
    if len(items) < 2:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(AT_ONCE, len(items))) as pool:
        return list(pool.map(work, items))
