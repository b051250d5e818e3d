"""A server proves it is the session's, and a right password is never kept waiting.

alice's session ends without a word (her job's processes are killed, as a node crash kills them)
and bob, another user of the machine, binds the port it served on: whatever bob's server answers
(a login page, the old launch-id header, a made-up proof), none of alice's commands takes it for
her session, shows its URL as hers, shuts it down or sends it her password. And bob's wrong
guesses at alice's login page, from the address they share, slow bob down but never alice.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import User, cluster_user, job_of, latest_launch, wait_until
from jupyter_session import JupyterSession, parse_banner
from test_hardening import login_attempt

#: bob's server: answers /login as Jupyter would (with the header that once named the launch),
#: answers the proof with garbage, and writes down every request it gets.
IMPOSTOR = r'''
import http.server, json, sys

host, port, log, launch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


class Impostor(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client could go on talking on the connection

    def note(self, body=b""):
        with open(log, "a") as stream:
            stream.write(json.dumps({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers), "body": body.decode(errors="replace")}) + "\n")

    def answer(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("X-Startnotebook-Launch", launch)
        self.send_header("Set-Cookie", "_xsrf=bobs; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.note()
        if self.path.startswith("/startnotebook/api/proof"):
            self.answer(200, json.dumps({"proof": "ab" * 32}).encode(), "application/json")
        else:
            self.answer(200, b"<form action='/login' method='post'>Password</form>", "text/html")

    def do_POST(self):
        self.note(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(302)
        self.send_header("Location", "/lab")
        self.send_header("Content-Length", "0")
        self.end_headers()


http.server.ThreadingHTTPServer((host, port), Impostor).serve_forever()
'''


@pytest.fixture
def alice_and_bob():
    alice, bob = User.ordinary("pf-alice"), User.ordinary("pf-bob")
    try:
        yield alice, bob
    finally:
        alice.account.remove()
        bob.account.remove()


def answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def impostor_on_dead_port(alice: User, bob: User, name: str, *options: str, cluster: bool = False) -> dict:
    """alice's session ``name`` runs; its job dies; bob serves on its port (on its node, on the
    test cluster). What alice had, and where bob writes down what he got."""
    launched = alice.startnotebook(*options, "--name", name, "--notebook-timeout", "300")
    assert launched.returncode == 0, launched.stderr
    url, password = parse_banner(launched.stdout)
    record = latest_launch(alice.home / name)
    handover = json.loads((record / "handover.json").read_text())
    host, port = handover["host"], handover["port"]
    # As a node crash would: every process of the job at once, nothing recorded.
    if cluster:
        alice.account.kill_processes()
    else:
        os.killpg(int(job_of(alice.home / name)["id"]), signal.SIGKILL)
    assert wait_until(lambda: not answers(host, port), 10, 0.05)
    script, log = bob.home / "impostor.py", bob.home / "requests.jsonl"
    script.write_text(IMPOSTOR)
    bob.owns(script)
    command = bob.account.as_user("/usr/bin/python3", str(script), host, str(port), str(log), record.name)
    if cluster:  # bob's process runs on alice's node (in its network namespace)
        command = ["nsenter", f"--net=/run/netns/sn-{handover['node']}", *command]
    server = subprocess.Popen(command, env=bob.env, stdout=subprocess.DEVNULL,
                              stderr=open(bob.home / "impostor.err", "w"))
    assert wait_until(lambda: answers(host, port), 10, 0.05), (bob.home / "impostor.err").read_text()
    return {"url": url, "password": password, "port": port, "log": log, "server": server}


def what_bob_got(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def assert_bob_got_nothing_of_alices(seen: dict, *passwords: str) -> None:
    requests = what_bob_got(seen["log"])
    assert not [r for r in requests if r["method"] == "POST"], requests  # no login, no shutdown
    text = seen["log"].read_text() if seen["log"].exists() else ""
    for password in passwords:
        assert password not in text


def test_an_impostor_on_a_dead_sessions_port_is_never_taken_for_it(alice_and_bob):
    alice, bob = alice_and_bob
    seen = impostor_on_dead_port(alice, bob, "thesis")
    port, elsewhere = seen["port"], f"something else answers on port {seen['port']}"
    try:
        listed = alice.startnotebook("list", "--all", "--json")
        assert listed.returncode == 0, listed.stderr
        [row] = json.loads(listed.stdout)
        assert row["state"] in ("ended", "failed") and elsewhere in row["reason"], row
        assert not row["url"]
        table = alice.startnotebook("list", "--all")
        assert f":{port}" not in table.stdout, table.stdout

        info = alice.startnotebook("info", "thesis")
        assert info.returncode == 0, info.stderr
        assert elsewhere in info.stdout and seen["url"] not in info.stdout, info.stdout
        assert seen["password"] not in info.stdout

        stop = alice.startnotebook("stop", "thesis")
        assert stop.returncode == 0, stop.stderr
        assert "nothing to stop" in stop.stdout and elsewhere in stop.stdout, stop.stdout
        assert seen["server"].poll() is None  # bob's server was not shut down

        again = alice.startnotebook("--name", "thesis", "--notebook-timeout", "60")
        assert again.returncode == 0, again.stderr
        new_url, new_password = parse_banner(again.stdout)
        assert new_url != seen["url"]
        JupyterSession(new_url, new_password)
        # bob was asked to prove himself (and failed), and got nothing else.
        assert any(r["path"].startswith("/startnotebook/api/proof") for r in what_bob_got(seen["log"]))
        assert_bob_got_nothing_of_alices(seen, seen["password"], new_password)
    finally:
        seen["server"].kill()


def test_a_relaunch_tells_the_impostor_and_does_not_log_in_to_it(alice_and_bob):
    alice, bob = alice_and_bob
    seen = impostor_on_dead_port(alice, bob, "paper")
    try:
        again = alice.startnotebook("--name", "paper", "--notebook-timeout", "60")
        assert again.returncode == 0, again.stderr
        assert f"something else answers on port {seen['port']}" in again.stdout, again.stdout
        assert "still answers" not in again.stdout and "already running" not in again.stdout
        new_url, new_password = parse_banner(again.stdout)
        assert new_url != seen["url"]
        JupyterSession(new_url, new_password)
        assert_bob_got_nothing_of_alices(seen, seen["password"], new_password)
        assert seen["server"].poll() is None
    finally:
        seen["server"].kill()


@pytest.mark.slurm
def test_on_the_cluster_an_impostor_on_a_dead_nodes_port_gets_nothing(slurm):
    with cluster_user(slurm, "pf-alice") as alice:
        bob = User.ordinary("pf-bob")
        try:
            seen = impostor_on_dead_port(alice, bob, "survey", "--profile", "slurm", cluster=True)
            try:
                listed = json.loads(alice.startnotebook("list", "--all", "--json").stdout)
                assert f"something else answers on port {seen['port']}" in listed[0]["reason"], listed
                assert not listed[0]["url"]
                again = alice.startnotebook("--profile", "slurm", "--name", "survey", "--notebook-timeout", "60")
                assert again.returncode == 0, again.stderr
                new_url, new_password = parse_banner(again.stdout)
                JupyterSession(new_url, new_password)
                assert_bob_got_nothing_of_alices(seen, seen["password"], new_password)
            finally:
                seen["server"].kill()
        finally:
            bob.account.remove()


def test_the_server_proves_itself_and_names_nobody_without_login(alice_and_bob):
    from startnotebook.sessions.client import Server
    from startnotebook.sessions.records import LaunchRecord

    alice, _ = alice_and_bob
    launched = alice.startnotebook("--name", "open", "--notebook-timeout", "60")
    assert launched.returncode == 0, launched.stderr
    record = LaunchRecord(latest_launch(alice.home / "open"))
    server = Server.from_handover(json.loads(record.handover_file.read_text()), record)
    assert server.answers()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    for path in ("/login", "/startnotebook/api/proof?nonce=00"):
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        # What anyone can read without login names neither the launch nor the key.
        assert record.id not in str(response.headers) + body.decode(), path
        assert record.proof_key_file.read_text().strip() not in body.decode()
    for nonce in ("", "zz", "00" * 65):  # not hex, or longer than any nonce needs
        connection.request("GET", f"/startnotebook/api/proof?nonce={nonce}")
        response = connection.getresponse()
        response.read()
        assert response.status == 400, nonce
    key = record.proof_key_file.read_text().strip()
    assert (record.proof_key_file.stat().st_mode & 0o777) == 0o600
    # The key is in its own file and nowhere else: no log, no config, no other record.
    for path in (alice.home / "open").rglob("*"):
        if path.is_file() and path != record.proof_key_file:
            assert key not in path.read_text(errors="replace"), path


# --- the check itself, against servers that have or lack the key --------------------------------
class Answering(http.server.BaseHTTPRequestHandler):
    """A server that answers the proof as ``self.server.answer(nonce)`` says, and notes POSTs."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        nonce = bytes.fromhex(self.path.split("nonce=", 1)[1]) if "nonce=" in self.path else b""
        body = self.server.answer(nonce)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "_xsrf=x; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.server.posts.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(302)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def answering():
    servers = []

    def serve(answer):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
        server.answer, server.posts = answer, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_only_a_server_with_the_launchs_key_passes(answering, tmp_path):
    from startnotebook.sessions.client import Impostor, Server, Unreachable
    from startnotebook.sessions.records import LaunchRecord
    from startnotebook.server import proof_of

    record = LaunchRecord(tmp_path / "20261202T000000.000000Z-abcdef")
    record.folder.mkdir()
    key, other_key = os.urandom(32), os.urandom(32)
    record.proof_key_file.write_text(key.hex() + "\n")
    earlier = os.urandom(32)

    def client(server) -> Server:
        return Server.from_handover({"host": "127.0.0.1", "port": server.server_address[1]}, record)

    def proof(value: str) -> bytes:
        return json.dumps({"proof": value}).encode()

    real = answering(lambda nonce: proof(proof_of(key, nonce, record.id)))
    assert client(real).check() is None
    impostors = {
        "another key": lambda nonce: proof(proof_of(other_key, nonce, record.id)),
        "another launch": lambda nonce: proof(proof_of(key, nonce, "20261201T000000.000000Z-123456")),
        "a replayed answer": lambda nonce: proof(proof_of(key, earlier, record.id)),
        "garbage": lambda nonce: b"<html>login</html>",
        "the wrong type": lambda nonce: json.dumps({"proof": 42}).encode(),
    }
    for what, answer in impostors.items():
        server = answering(answer)
        problem = client(server).check()
        assert isinstance(problem, Impostor), what
        assert f"something else answers on port {server.server_address[1]}" in str(problem)
        with pytest.raises(Impostor):
            client(server).shutdown("alices-password")
        assert server.posts == [], what  # the password never left
    # Without the key on record nothing can be proven, not even the real server.
    record.proof_key_file.unlink()
    assert isinstance(client(real).check(), Impostor)
    # Nothing listening is not an impostor.
    port = real.server_address[1]
    real.shutdown()
    real.server_close()
    problem = client(real).check()
    assert isinstance(problem, Unreachable) and not isinstance(problem, Impostor), (port, problem)


# --- guessing ----------------------------------------------------------------------------------------
def test_bobs_wrong_guesses_never_delay_alices_right_password(alice_and_bob):
    alice, _ = alice_and_bob
    launched = alice.startnotebook("--name", "guarded", "--notebook-timeout", "60")
    assert launched.returncode == 0, launched.stderr
    url, password = parse_banner(launched.stdout)
    # bob, from the login node's address that alice shares: five wrong guesses cost him nothing,
    assert all(status == 401 for status, _ in [login_attempt(url, "bobs-guess") for _ in range(5)])
    # the next one waits (1 s), and while it waits alice logs in at once;
    waits: list[float] = []
    guess = threading.Thread(target=lambda: waits.append(login_attempt(url, "bobs-guess")[1]))
    guess.start()
    time.sleep(0.3)
    status, seconds = login_attempt(url, password)
    assert status == 302 and seconds < 0.8, (status, seconds)
    guess.join()
    assert waits[0] >= 0.9, waits
    # alice's success forgave bob nothing: his next guess waits longer (2 s), hers never.
    status, seconds = login_attempt(url, "bobs-guess")
    assert status == 401 and seconds >= 1.8, seconds
    status, seconds = login_attempt(url, password)
    assert status == 302 and seconds < 0.8, (status, seconds)
