"""Talking to a running notebook server as a browser does: login form, cookies, XSRF, websockets."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import uuid

import requests
import websocket


BANNER = re.compile(r"url : (?P<url>\S+)\n\tpass: (?P<password>\S+)")
FINGERPRINT = re.compile(r"sha256 fingerprint of its certificate: (?P<fingerprint>[0-9A-F:]{95})")


def certificate_fingerprint(url: str) -> str:
    """SHA-256 of the certificate the server at ``url`` presents, as browsers show it."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, int(port))))
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


def parse_fingerprint(output: str) -> str:
    match = FINGERPRINT.search(output)
    assert match, f"no certificate fingerprint in output:\n{output}"
    return match["fingerprint"]


def parse_banner(output: str) -> tuple[str, str]:
    """The url and password printed by startnotebook."""
    match = BANNER.search(output)
    assert match, f"no url/pass in output:\n{output}"
    return match["url"], match["password"]


class LoginRefused(Exception):
    pass


class JupyterSession:
    """A logged-in user of one notebook server."""

    def __init__(self, url: str, password: str, fingerprint: str | None = None):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False  # straight to the server: no proxy, no CA bundle from the environment
        if self.url.startswith("https://"):
            # A session's self-signed certificate: trusted by its fingerprint, as a user would.
            assert fingerprint is None or certificate_fingerprint(self.url) == fingerprint
            self.http.verify = False
        login_page = self.http.get(f"{self.url}/login", timeout=10)
        login_page.raise_for_status()
        xsrf = self.http.cookies.get("_xsrf")
        response = self.http.post(
            f"{self.url}/login",
            data={"password": password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=10,
        )
        # Success is a redirect away from the login page; a wrong password re-renders it.
        if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
            raise LoginRefused(f"login answered {response.status_code}")
        self.http.headers["X-XSRFToken"] = self.http.cookies.get("_xsrf")

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.http.request(method, f"{self.url}/api/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def kernels(self) -> list[dict]:
        return self.api("GET", "kernels").json()

    def start_kernel(self, name: str = "python3") -> str:
        return self.api("POST", "kernels", json={"name": name}).json()["id"]

    def connect(self, kernel_id: str) -> "KernelChannel":
        return KernelChannel(self, kernel_id)

    def save_notebook(self, path: str, source: str) -> None:
        notebook = {
            "cells": [{"cell_type": "code", "source": source, "metadata": {},
                       "outputs": [], "execution_count": None}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        self.api("PUT", f"contents/{path}", json={"type": "notebook", "content": notebook})


class KernelChannel:
    """The websocket of a kernel, as a notebook tab holds it open."""

    def __init__(self, session: JupyterSession, kernel_id: str):
        ws_url = (session.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
                  + f"/api/kernels/{kernel_id}/channels")
        cookies = "; ".join(f"{k}={v}" for k, v in session.http.cookies.items())
        self.ws = websocket.create_connection(ws_url, cookie=cookies, timeout=60,
                                              sslopt={"cert_reqs": ssl.CERT_NONE})
        self.session_id = uuid.uuid4().hex

    def execute(self, code: str) -> str:
        """Run ``code``; return its result (execute_result) or printed output."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": self.session_id, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        output = []
        while True:
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "execute_result":
                output.append(content["data"]["text/plain"])
            elif kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(output)

    @property
    def open(self) -> bool:
        return self.ws.connected

    def close(self) -> None:
        self.ws.close()
