"""Talking to a session's server from our side: is it there, is it this launch's, stop it.

Whatever the server speaks (http, or https with the session's, the site's or the user's own
certificate), we speak too: an https server is trusted by the certificate fingerprint it
wrote into its handover (a file in the user's private session folder), not by a CA. Connections
go straight to the node: a login node's http_proxy is for the outside world.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie

from .jupyter_config import IDENTITY_HEADER
from .server import sha256_fingerprint

TIMEOUT = 5


class Unreachable(Exception):
    """The server does not answer, or is not who the record says it is."""


@dataclass(frozen=True)
class Server:
    """A session's server, as its handover describes it."""

    scheme: str
    host: str
    port: int
    base_url: str = "/"
    fingerprint: str | None = None  # SHA-256 of its certificate, "AB:CD:..."
    launch: str | None = None  # the launch id it must answer with

    @classmethod
    def from_handover(cls, handover: dict) -> "Server":
        return cls(handover.get("scheme", "http"), handover["host"], int(handover["port"]),
                   handover.get("base_url", "/"), handover.get("certificate_sha256"),
                   handover.get("launch"))

    @property
    def url(self) -> str:
        """The URL as the user types it: SCHEME://HOST:PORT (plus the base path, if any)."""
        return f"{self.scheme}://{self.host}:{self.port}{self.base_url.rstrip('/')}"

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # trust comes from the pinned fingerprint, below
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT, context=context)
        connection.connect()
        presented = connection.sock.getpeercert(binary_form=True)
        if self.fingerprint is None or sha256_fingerprint(presented) != self.fingerprint:
            connection.close()
            raise Unreachable(f"{self.url} presents a certificate other than the session's")
        return connection

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        try:
            connection = self._connection()
            try:
                connection.request(method, self.base_url.rstrip("/") + path, body=body,
                                   headers=headers or {})
                response = connection.getresponse()
                return response.status, response.msg, response.read()
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as error:
            raise Unreachable(f"{self.url} does not answer: {error}") from error

    def answers(self) -> bool:
        """Does this launch's server serve its login page? (Any other page needs the password.)"""
        try:
            status, headers, _ = self.request("GET", "/login")
        except Unreachable:
            return False
        return status == 200 and (self.launch is None or headers.get(IDENTITY_HEADER) == self.launch)

    def login(self, password: str) -> dict:
        """Log in as a browser does; the headers that authenticate later requests."""
        status, headers, _ = self.request("GET", "/login")
        cookies = _cookies(headers)
        xsrf = cookies.get("_xsrf", "")
        form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
        status, headers, _ = self.request("POST", "/login", form, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": _cookie_header(cookies)})
        if status != 302:
            raise Unreachable(f"{self.url} refused the password on record")
        cookies.update(_cookies(headers))
        return {"Cookie": _cookie_header(cookies), "X-XSRFToken": xsrf}

    def shutdown(self, password: str) -> None:
        """Ask the server to shut its kernels down and exit (Jupyter's /api/shutdown)."""
        headers = self.login(password)
        status, _, body = self.request("POST", "/api/shutdown", b"", headers)
        if status not in (200, 204):
            raise Unreachable(f"{self.url} refused to shut down ({status}): {body[:200]!r}")


def _cookies(headers: http.client.HTTPMessage) -> dict:
    jar = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or ():
        jar.load(value)
    return {key: morsel.value for key, morsel in jar.items()}


def _cookie_header(cookies: dict) -> str:
    return "; ".join(f"{key}={value}" for key, value in cookies.items())
