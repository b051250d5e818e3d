"""Running the Snakemake workflow from the ``startnotebook`` command.

The CLI, not the Python API: only the CLI reads profiles. Snakemake runs in a process group of
its own, so that Ctrl-C reaches the launch first and is passed on in order (see launch.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from . import resources

INTERRUPT_GRACE_SECONDS = 60


def snakemake_command(
    target: str, configfiles: list[Path], profile: Path | None, workdir: Path
) -> list[str]:
    command = [
        sys.executable, "-m", "snakemake", target,
        "--snakefile", str(resources.snakefile()),
        # Snakemake's own bookkeeping (.snakemake/) goes into the session's state folder.
        "--directory", str(workdir),
        # The launch holds a lock of its own (launch.exclusive_launch); Snakemake's would outlive
        # a killed launch and block the session until someone ran `snakemake --unlock`.
        "--nolock",
        "--configfiles", *map(str, configfiles),
    ]
    if profile is not None:
        command += ["--profile", str(profile)]
    return command


def start(command: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as stream:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(resources.package_parent())},
        )


def interrupt(process: subprocess.Popen) -> None:
    """Pass Ctrl-C on to Snakemake and its jobs, and give them time to cancel what they started."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(INTERRUPT_GRACE_SECONDS)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
