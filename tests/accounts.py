"""Ordinary Unix users for the tests: real accounts (useradd), commands run with their uid.

The suite runs as root; researchers never do. Every user-facing flow runs at least once as one
of these accounts, on this machine and on the test cluster (whose nodes see the same /home).
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from pathlib import Path

PREFIX = "sntest"


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Account:
    """A user account made for the tests; ``run`` runs a command as that user."""

    def __init__(self, name: str, slurm_conf: Path | None = None, bin_dir: Path | None = None):
        self.name = f"{PREFIX}-{name}"
        if _exists(self.name):
            self.remove()
        # useradd gives the account subordinate uid/gid ranges (for unprivileged image builds).
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", self.name], check=True,
                       capture_output=True)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = entry.pw_uid, entry.pw_gid, Path(entry.pw_dir)
        path = os.environ.get("PATH", "/usr/bin:/bin")
        self.env = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
                    "PATH": f"{bin_dir}:{path}" if bin_dir else path, "LANG": "C.UTF-8"}
        if slurm_conf is not None:
            self.env["SLURM_CONF"] = str(slurm_conf)

    def as_user(self, *args: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--", *args]

    def run(self, *args: str, timeout: float = 180, cwd: Path | None = None, env: dict | None = None,
            **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.as_user(*args), env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, cwd=cwd or self.home, **kwargs)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.as_user(*args), env=self.env, cwd=self.home, text=True, **kwargs)

    def processes(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == self.uid:
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def remove(self) -> None:
        subprocess.run(["pkill", "-KILL", "-u", self.name], capture_output=True)
        subprocess.run(["userdel", "--remove", "--force", self.name], capture_output=True)

    def kill_processes(self) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
