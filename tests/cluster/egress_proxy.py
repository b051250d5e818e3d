"""An HTTP proxy that lets the test cluster's nodes reach the package registries, and nothing else.

The compute nodes have no route out (like many real clusters). A batch job that builds the
notebook image needs the Debian mirror and PyPI: this proxy listens on the hub's address and
connects out from the namespace the tests started in, to an allow-list of registry hosts only.

    nsenter --net=/run/netns/sn-outside python egress_proxy.py HUB_NS_PATH ADDRESS PORT HOST...
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import socketserver
import sys
from urllib.parse import urlsplit

CLONE_NEWNET = 0x40000000


def setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def relay(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 120)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


class Proxy(socketserver.StreamRequestHandler):
    allowed: set[str] = set()

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1")
        headers = []
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            headers.append(line)
        try:
            method, target, version = request.split()
        except ValueError:
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
        else:
            parts = urlsplit(target)
            host, port = parts.hostname or "", str(parts.port or 80)
        if host not in self.allowed:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection((host, int(port)), timeout=60)
        with upstream:
            if method == "CONNECT":
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                path = urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
                upstream.sendall(f"{method} {path} {version}\r\n".encode("latin-1"))
                upstream.sendall(b"".join(h for h in headers
                                          if not h.lower().startswith(b"proxy-")) + b"\r\n")
            relay(self.connection, upstream)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    hub, address, port, *hosts = sys.argv[1:]
    outside = f"/proc/{os.getpid()}/ns/net"
    outside_fd = os.open(outside, os.O_RDONLY)
    setns(hub)
    server = Server((address, int(port)), Proxy)  # listens in the hub...
    setns(f"/proc/self/fd/{outside_fd}")  # ...and connects out from here
    Proxy.allowed = set(hosts)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
