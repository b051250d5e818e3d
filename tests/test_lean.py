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

from conftest import BIN, User, cluster_user, job_of, kill_leftovers, wait_until
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


def rpcs(slurm) -> tuple[dict[str, int], dict[str, int]]:
    """The controller RPCs ``sdiag`` counts, by message type and by user (name)."""
    out = subprocess.run(["sdiag"], env=slurm.env, capture_output=True, text=True, check=True).stdout
    by_type_text, by_user_text = out.split("Remote Procedure Call statistics by user", 1)
    by_type_text = by_type_text.split("Remote Procedure Call statistics by message type", 1)[1]
    count = re.compile(r"^\s*(\S+)\s*\(\s*\d+\)\s*count:\s*(\d+)", re.M)
    return ({name: int(n) for name, n in count.findall(by_type_text)},
            {name: int(n) for name, n in count.findall(by_user_text)})


def rpcs_since(before, slurm) -> tuple[dict[str, int], dict[str, int]]:
    after = rpcs(slurm)
    return tuple({key: value - was.get(key, 0) for key, value in now.items() if value != was.get(key, 0)}
                 for was, now in zip(before, after, strict=True))


@pytest.mark.slurm
def test_a_slurm_launch_whose_job_starts_at_once_asks_the_controller_once(slurm):
    """The launch's own RPCs, as sdiag counts them for the user: the submission alone, as a bare
    sbatch. The job's own look at its end (the session's clock asks `scontrol show job` once as its
    server starts, from the node) is counted apart: the same look, made again by hand, shows what
    one costs."""
    with cluster_user(slurm, "ln-rpc") as user:
        name = user.account.name
        before = rpcs(slurm)
        result = user.startnotebook("--profile", "slurm", "--name", "once")
        assert result.returncode == 0, result.stdout + result.stderr
        assert parse_banner(result.stdout)
        server_log = user.home / "once/.startnotebook/logs/server.log"
        # The server logs the controller's answer to its one look at the job's end.
        assert wait_until(lambda: "as the controller says" in server_log.read_text(), 30)
        by_type, by_user = rpcs_since(before, slurm)
        before_look = rpcs(slurm)
        looked = user.run("scontrol", "--oneliner", "show", "job", job_of(user.home / "once")["id"])
        assert looked.returncode == 0, looked.stderr
        one_look = rpcs_since(before_look, slurm)[1].get(name, 0)
        assert by_type.get("REQUEST_SUBMIT_BATCH_JOB") == 1, by_type
        # No BUILD_INFO/PING of `scontrol show config`, no squeue: the submission, besides the job's look.
        assert by_user.get(name, 0) - one_look == 1, (by_user, one_look, by_type)
