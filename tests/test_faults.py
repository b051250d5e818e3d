"""Faults of a real cluster and of busy users: each ends with a clear message, nothing lost, no
orphan job. On the test cluster (and, for a full disk, on this machine)."""

from __future__ import annotations

import subprocess
import time

import pytest

from conftest import BIN, User, wait_until
from jupyter_session import JupyterSession, parse_banner

TINY = {"tiny": {"cpus_per_task": 1, "mem_mb": 512, "runtime": 60}}


@pytest.fixture
def researcher(slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    user.slurm_profile(flavours=TINY)
    yield user
    subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env, check=False)
    wait_until(lambda: not slurm.queue(), 20)


def fill_the_cluster(slurm, seconds: int) -> str:
    """Every CPU of both nodes busy for ``seconds``: a launch now waits in the queue."""
    return subprocess.run(["sbatch", "--parsable", "--nodes=2", "--exclusive", "--output=/dev/null",
                           f"--wrap=sleep {seconds}"], env=slurm.env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.slurm
def test_a_controller_restarted_while_a_launch_waits_in_the_queue(slurm, researcher):
    blocker = fill_the_cluster(slurm, 600)
    launch = researcher.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "patient",
                              "--flavor", "tiny")
    assert wait_until(lambda: len(slurm.queue()) == 2, 30), "the launch submitted no job"
    slurm.stop_controller()
    time.sleep(8)  # the launch keeps waiting: the job may still start
    slurm.start_controller(clean=False)
    subprocess.run(["scancel", blocker], env=slurm.env, check=True)
    stdout, stderr = launch.communicate(timeout=120)
    assert launch.returncode == 0, stdout + stderr
    JupyterSession(*parse_banner(stdout))
    assert len(slurm.queue()) == 1


@pytest.mark.slurm
def test_ten_launches_of_one_name_at_once_give_one_job_and_one_url(slurm, researcher):
    launches = [researcher.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "crowded",
                                 "--flavor", "tiny") for _ in range(10)]
    outcomes = [launch.communicate(timeout=300) + (launch.returncode,) for launch in launches]
    assert all(code == 0 for _, _, code in outcomes), outcomes
    urls = {parse_banner(stdout) for stdout, _, _ in outcomes}
    assert len(urls) == 1, urls
    assert sum("successfully launched" in stdout for stdout, _, _ in outcomes) == 1
    assert sum("already running" in stdout for stdout, _, _ in outcomes) == 9
    assert len(slurm.queue()) == 1
    JupyterSession(*urls.pop())


@pytest.mark.slurm
def test_twenty_launches_of_twenty_names_at_once_all_succeed(slurm, researcher):
    launches = {f"many-{index:02d}": researcher.popen(
        str(BIN / "startnotebook"), "--profile", "slurm", "--name", f"many-{index:02d}", "--flavor", "tiny")
        for index in range(20)}
    outcomes = {name: launch.communicate(timeout=600) + (launch.returncode,) for name, launch in launches.items()}
    failed = {name: outcome for name, outcome in outcomes.items() if outcome[2] != 0}
    assert not failed, failed
    urls = {name: parse_banner(stdout)[0] for name, (stdout, _, _) in outcomes.items()}
    assert len(set(urls.values())) == 20
    assert len(slurm.queue()) == 20
    for name in ("many-00", "many-19"):
        JupyterSession(*parse_banner(outcomes[name][0]))


def test_a_session_folder_on_a_full_disk_is_one_line_and_loses_nothing(user):
    """The session folder is a 4 MB tmpfs (in a mount namespace of the command's own), full."""
    folder = user.home / "full"
    folder.mkdir()
    script = (f'mount -t tmpfs -o size=4m tmpfs "{folder}" && '
              f'echo "my notes" > "{folder}/notes.txt" && '
              f'(dd if=/dev/zero of="{folder}/data.bin" bs=64k 2>/dev/null; true) && '
              f'"{BIN}/startnotebook" --name full; echo "exit=$?"; '
              f'cat "{folder}/notes.txt"; ls -a "{folder}"')
    result = user.run("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
    stderr_lines = [line for line in result.stderr.splitlines() if line.startswith("startnotebook")]
    assert stderr_lines and stderr_lines[0].startswith("startnotebook: error: session folder"), result.stderr
    assert "is full" in stderr_lines[0] or "No space left" in stderr_lines[0]
    assert len(stderr_lines) == 1 and "Traceback" not in result.stderr
    assert "exit=0" not in result.stdout
    assert "my notes" in result.stdout and "data.bin" in result.stdout
    assert user.server_processes() == []
