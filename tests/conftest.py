"""Fixtures: a fresh home per test, the installed `startnotebook` command, and no stray servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def processes_mentioning(text: str) -> list[int]:
    """Pids of processes whose command line or environment mentions ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def wait_until(predicate, timeout: float, interval: float = 0.5):
    """Poll ``predicate`` until it is truthy; return its value or None at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class User:
    """A researcher with an empty home, typing commands."""

    def __init__(self, home: Path):
        self.home = home
        self.env = {**os.environ, "HOME": str(home), "USER": os.environ.get("USER", "root")}
        self.env.pop("SNAKEMAKE_PROFILE", None)

    def run(self, *args: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.home, **kwargs)

    def startnotebook(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "startnotebook"), *args, **kwargs)

    def snakemake(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "snakemake"), *args, **kwargs)

    def server_processes(self) -> list[int]:
        return processes_mentioning(str(self.home))


@pytest.fixture
def user(tmp_path_factory):
    # A short path: the home is searched for in /proc to find what a test left running.
    user = User(tmp_path_factory.mktemp("home"))
    yield user
    for pid in user.server_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
