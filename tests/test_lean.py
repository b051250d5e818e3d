"""A lean launch: the local default never waits on SLURM, and a SLURM launch asks the controller
once (its submission) when its job starts at once.

A laptop with a stale SLURM config, or a login node whose controller is restarting: a local launch
must not notice. Snakemake loads every installed executor plugin to build its command line, and
snakemake-executor-plugin-slurm asks ``scontrol show config`` as it is loaded (10 s against a
controller that does not answer); startnotebook loads no executor plugin for a run on the local
executor.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, User, cluster_user, kill_leftovers
from jupyter_session import parse_banner

SLURM_TOOLS = {"scontrol", "sinfo", "squeue", "sbatch", "sacct", "sdiag", "srun", "scancel"}

# An address of the test network where nothing listens: connections to it go unanswered.
NOBODY = "10.250.77.250"


@pytest.fixture
def stale_slurm_user():
    """An ordinary user whose SLURM_CONF names a controller that does not answer."""
    user = User.ordinary("ln-stale")
    conf = user.home / "slurm.conf"
    conf.write_text(
        "ClusterName=gone\n"
        f"SlurmctldHost=gone({NOBODY})\n"
        "SlurmctldPort=6899\n"
        "AuthType=auth/none\nCredType=cred/none\n"
        f"NodeName=n1 NodeAddr={NOBODY} CPUs=1 State=UNKNOWN\n"
        "PartitionName=all Nodes=n1 Default=YES\n"
    )
    user.owns(conf)
    user.env["SLURM_CONF"] = str(conf)
    try:
        yield user
    finally:
        kill_leftovers(user)
        user.account.remove()


def programs_started(user: User, trace: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run startnotebook under ``strace -f``: its result and every program any of its processes
    executed."""
    result = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace),
         *user.command(str(BIN / "startnotebook"), *args)],
        env=user.env, cwd=user.home, capture_output=True, text=True, timeout=120,
    )
    started = re.findall(r'execve\("([^"]+)".* = 0$', trace.read_text(), re.M)
    return result, started


def test_a_local_launch_with_a_dead_controller_configured_asks_slurm_nothing(stale_slurm_user, tmp_path):
    user = stale_slurm_user
    # strace follows the local server too, until it ends: a short notebook timeout ends it soon.
    # The launch succeeds only once the server's URL answers with the launch's id.
    result, started = programs_started(user, tmp_path / "launch.trace", "--name", "offline",
                                       "--notebook-timeout", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "successfully launched" in result.stdout and parse_banner(result.stdout)
    assert not {Path(path).name for path in started} & SLURM_TOOLS, started

    checked, started = programs_started(user, tmp_path / "check.trace", "--check", "--name", "offline")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not {Path(path).name for path in started} & SLURM_TOOLS, started


def rpcs_of(user: User, slurm) -> int:
    """The controller RPCs ``sdiag`` counts for the user."""
    out = subprocess.run(["sdiag"], env=slurm.env, capture_output=True, text=True, check=True).stdout
    by_user = out.split("Remote Procedure Call statistics by user", 1)[1]
    name, uid = user.account.name, user.account.uid
    match = re.search(rf"^\s*{re.escape(name)}\s*\(\s*{uid}\)\s*count:\s*(\d+)", by_user, re.M)
    return int(match.group(1)) if match else 0


@pytest.mark.slurm
def test_a_slurm_launch_whose_job_starts_at_once_asks_the_controller_once(slurm):
    with cluster_user(slurm, "ln-rpc") as user:
        before = rpcs_of(user, slurm)
        result = user.startnotebook("--profile", "slurm", "--name", "once")
        calls = rpcs_of(user, slurm) - before
        assert result.returncode == 0, result.stdout + result.stderr
        assert parse_banner(result.stdout)
        # The submission, as a bare sbatch: no BUILD_INFO/PING of `scontrol show config`, no squeue.
        assert calls == 1, calls
