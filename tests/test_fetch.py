"""Notebooks a declared session brings are fetched within the site's bounds: a URL that never ends
or a server that never answers fails the launch in one line, before any job, leaving nothing on
the disk; a notebook the user cannot read says "permission denied"; a good one is kept once.

As an ordinary user, in a project made by `startnotebook init`, on this machine (the local
backend), with a site that allows 1 MB and waits 3 s."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import User, kill_leftovers, latest_launch, wait_until
from jupyter_session import JupyterSession, parse_banner

LIMIT_MB, TIMEOUT = 1, 3
NOTEBOOK = json.dumps({
    "cells": [{"cell_type": "markdown", "metadata": {}, "source": "Prepared by a colleague"},
              {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
               "source": "# " + "x" * 300_000}],  # a notebook of 300 kB, within the limit
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


class Web(http.server.BaseHTTPRequestHandler):
    """A colleague's web server, and four that are not: one that streams for ever, one that
    announces more than the limit, one that accepts and never answers, one that answers HEAD and
    never a download."""

    protocol_version = "HTTP/1.0"  # a body without Content-Length runs until the connection ends

    def do_HEAD(self):
        self.answer(body=False)

    def do_GET(self):
        self.answer(body=True)

    def answer(self, body: bool):
        if self.path == "/silent.ipynb" or (self.path == "/silent-download.ipynb" and body):
            self.server.release.wait()
            return
        if self.path not in ("/fine.ipynb", "/endless.ipynb", "/announced.ipynb", "/silent-download.ipynb"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ipynb+json")
        if self.path == "/fine.ipynb":
            self.send_header("Content-Length", str(len(NOTEBOOK)))
        if self.path == "/announced.ipynb":
            self.send_header("Content-Length", str(100 * 2**20))
        self.end_headers()
        if not body:
            return
        if self.path == "/fine.ipynb":
            self.wfile.write(NOTEBOOK)
            return
        chunk = b"{" * 65536
        try:
            while not self.server.release.is_set():
                self.wfile.write(chunk)
                self.server.sent[self.path] = self.server.sent.get(self.path, 0) + len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up.add(self.path)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Web)
    server.daemon_threads = True
    server.release, server.sent, server.hung_up = threading.Event(), {}, set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.release.set()
    server.shutdown()


@pytest.fixture(scope="module")
def ann():
    """A researcher on a site that fetches at most 1 MB and waits 3 s for an answer."""
    user = User.ordinary("fx-ann")
    profile = user.home / ".config" / "snakemake" / "fetching"
    profile.mkdir(parents=True)
    (profile / "config.yaml").write_text("cores: 1\n")
    (profile / "site.yaml").write_text(yaml.safe_dump({"notebook_fetch": {"max_mb": LIMIT_MB, "timeout": TIMEOUT}}))
    user.owns(user.home / ".config")
    try:
        yield user
    finally:
        kill_leftovers(user)
        user.account.remove()


@pytest.fixture(scope="module")
def project(ann):
    folder = ann.home / "project"
    ann.run("mkdir", str(folder))
    assert ann.startnotebook("init", cwd=folder).returncode == 0
    return folder


def launch_row(user: User, project: Path, name: str, notebook: str):
    """Add the session ``name`` bringing ``notebook`` to the project's sheet, and launch it."""
    with open(project / "config" / "sessions.tsv", "a") as sheet:
        sheet.write("\t".join([name, "small", "60", "60", "", notebook]) + "\n")
    user.owns(project / "config")
    return user.startnotebook("--profile", "fetching", "--name", name, cwd=project, timeout=120)


def files_of(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_size for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("notebook", ["endless", "announced"])
def test_a_notebook_larger_than_the_limit_fails_in_one_line_and_leaves_nothing(ann, project, web, notebook):
    url = f"{web.url}/{notebook}.ipynb"
    result = launch_row(ann, project, notebook, url)
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert f"notebook {url} of session {notebook} cannot be fetched (larger than {LIMIT_MB} MB)" in result.stderr
    folder = ann.home / notebook
    assert not (latest_launch(folder) / "job.json").exists()  # nothing was submitted
    assert ann.server_processes() == []
    # The partial download is gone; the disk holds nothing of the URL's.
    assert not [name for name in files_of(folder) if name.endswith(f"{notebook}.ipynb")], files_of(folder)
    assert sum(files_of(folder).values()) < 2**20
    if notebook == "endless":
        # The download stopped at the limit (what the server sent beyond it sat in socket buffers).
        assert wait_until(lambda: "/endless.ipynb" in web.hung_up, 10)
        assert web.sent["/endless.ipynb"] < 32 * 2**20


@pytest.mark.parametrize("notebook", ["silent", "silent-download"])
def test_a_server_that_never_answers_fails_the_launch_after_the_timeout(ann, project, web, notebook):
    """Silent from the start (its HEAD), or once the download begins."""
    url = f"{web.url}/{notebook}.ipynb"
    started = time.monotonic()
    result = launch_row(ann, project, notebook, url)
    took = time.monotonic() - started
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert f"notebook {url} of session {notebook} cannot be fetched (no answer within {TIMEOUT} s)" in result.stderr
    assert TIMEOUT <= took < TIMEOUT + 20, took
    folder = ann.home / notebook
    assert not (latest_launch(folder) / "job.json").exists()
    assert not [name for name in files_of(folder) if name.endswith(f"{notebook}.ipynb")], files_of(folder)


def test_a_notebook_the_user_cannot_read_says_permission_denied(ann, project):
    result = launch_row(ann, project, "secrets", "/etc/shadow")
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert "notebook /etc/shadow of session secrets cannot be read (permission denied)" in result.stderr
    assert not (latest_launch(ann.home / "secrets") / "job.json").exists()
    assert not (ann.home / "secrets" / "shadow").exists()


def test_a_good_notebook_is_fetched_and_kept_once(ann, project, web):
    result = launch_row(ann, project, "fine", f"{web.url}/fine.ipynb")
    assert result.returncode == 0, result.stderr
    folder = ann.home / "fine"
    notebook = folder / "fine.ipynb"
    assert notebook.read_bytes() == NOTEBOOK
    # One copy: no second name for it (a hard link), none staged in the launch record, none left
    # in Snakemake's storage.
    assert notebook.stat().st_nlink == 1
    copies = [name for name in files_of(folder) if name.endswith("fine.ipynb")]
    assert copies == ["fine.ipynb"], copies
    jupyter = JupyterSession(*parse_banner(result.stdout))
    assert "Prepared by a colleague" in jupyter.api("GET", "contents/fine.ipynb").text
    check = ann.startnotebook("--profile", "fetching", "--check", "--name", "fine", cwd=project)
    assert f"notebook fetch   : up to {LIMIT_MB} MB, {TIMEOUT} s timeout" in check.stdout, check.stdout
    assert ann.startnotebook("stop", "fine").returncode == 0
