"""Races and orphans: a `stop` and a launch of one session at the same moment never show a URL
that does not answer; a launch killed after it submitted its job leaves no job behind (the job
ends itself, or the user's next command cancels it) and nothing in /tmp. As ordinary users, on
this machine and on the test cluster."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import BIN, User, cluster_user, job_of, latest_launch, wait_until


def answers_as_the_session(folder: Path, url: str) -> bool:
    """Does the server of the session's latest launch answer at ``url``, with its proof?"""
    from startnotebook.sessions.client import Server
    from startnotebook.sessions.records import LaunchRecord

    record = LaunchRecord(latest_launch(folder))
    handover = json.loads(record.handover_file.read_text())
    server = Server.from_handover(handover, record)
    return server.url == url and server.answers()


def url_as_shown(launch: subprocess.Popen) -> tuple[str, str]:
    """The first line of the launch's banner, and its URL, read the moment they are printed."""
    said, url = "", None
    for line in launch.stdout:
        if "already running" in line or "successfully launched" in line:
            said = line.strip()
        if line.startswith("\turl : "):
            url = line.split(": ", 1)[1].strip()
            return said, url
    return said, url


def snakemake_temporaries(uid: int) -> set[Path]:
    """Snakemake's temporary folders in /tmp (/tmp/snakemakeXXXX) that belong to ``uid`` (a
    number an earlier test's account may have had too: compare with what was there before)."""
    return {path for path in Path("/tmp").glob("snakemake*") if path.lstat().st_uid == uid}


def listed(user: User, name: str) -> dict:
    rows = json.loads(user.startnotebook("list", "--all", "--json").stdout)
    return {row["name"]: row for row in rows}[name]


def test_stop_and_launch_at_the_same_moment_never_show_a_url_that_does_not_answer():
    """Twenty rounds: a running session, then `stop` and a launch of it at once (either may come
    first by up to half a second). Whatever the launch says, its URL answers as the session's
    right when it is shown, and the stop stops what it found."""
    user = User.ordinary("rs-racer")
    launch_args = (str(BIN / "startnotebook"), "--name", "race", "--notebook-timeout", "60")
    folder, said = user.home / "race", []
    try:
        for round_ in range(20):
            if round_ == 0 or not said[-1].startswith("Notebook successfully launched"):
                started = user.startnotebook(*launch_args[1:])
                assert started.returncode == 0, started.stderr
            delay = random.uniform(-0.5, 0.5)
            if delay > 0:
                stop = user.popen(str(BIN / "startnotebook"), "stop", "race")
                time.sleep(delay)
                launch = user.popen(*launch_args)
            else:
                launch = user.popen(*launch_args)
                time.sleep(-delay)
                stop = user.popen(str(BIN / "startnotebook"), "stop", "race")
            what, url = url_as_shown(launch)
            assert url is not None, (round_, launch.communicate(timeout=60))
            assert answers_as_the_session(folder, url), (round_, what, url)
            said.append(what)
            _, launch_errors = launch.communicate(timeout=60)
            stopped, stop_errors = stop.communicate(timeout=60)
            assert launch.returncode == 0, (round_, launch_errors)
            assert stop.returncode == 0 and "Stopped race" in stopped, (round_, stopped, stop_errors)
    finally:
        user.account.remove()
    # Both orders happened (at random): an "already running" the stop then ended, and a stop
    # whose session was launched afresh after it.
    print({kind: sum(line.startswith(kind) for line in said)
           for kind in ("Notebook race is already running", "Notebook successfully launched")})


def lock_held(folder: Path) -> bool:
    """Does some process hold the session's lock right now?"""
    try:
        fd = os.open(folder / ".startnotebook" / "lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_launch_typed_while_a_stop_is_under_way_waits_for_it_then_launches_afresh():
    """The stop is caught holding the session (and frozen there, SIGSTOP, as a slow file system
    might hold it): the launch waits for it, says so, and once the stop is done launches anew;
    it never calls the server the stop is ending "already running"."""
    user = User.ordinary("rs-patient")
    folder = user.home / "turns"
    try:
        first = user.startnotebook("--name", "turns", "--notebook-timeout", "60")
        assert first.returncode == 0, first.stderr
        stopped_launch = latest_launch(folder)
        stop = user.popen(str(BIN / "startnotebook"), "stop", "turns")
        assert wait_until(lambda: lock_held(folder), 20, 0.001), "the stop never held the session's lock"
        os.kill(stop.pid, signal.SIGSTOP)
        launch = user.popen(str(BIN / "startnotebook"), "--name", "turns", "--notebook-timeout", "60")
        waited = next((line for line in launch.stdout if "waiting for it" in line or "url :" in line), "")
        assert "another launch or a stop of turns is in progress; waiting for it" in waited, waited
        os.kill(stop.pid, signal.SIGCONT)
        stopped, _ = stop.communicate(timeout=60)
        assert stop.returncode == 0 and "Stopped turns" in stopped, stopped
        said, url = url_as_shown(launch)
        assert "successfully launched" in said, said
        assert latest_launch(folder) != stopped_launch and answers_as_the_session(folder, url)
        launch.communicate(timeout=60)
        assert launch.returncode == 0
    finally:
        user.account.remove()


def kill_launch_after_sbatch(user: User, name: str, *args: str) -> subprocess.Popen:
    """A launch killed (kill -9, its whole process group) the moment its job is on record."""
    launch = user.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", name, *args,
                        start_new_session=True)
    launches = user.home / name / ".startnotebook" / "launches"
    assert wait_until(lambda: launches.exists() and any(launches.glob("*/job.json")), 60, 0.05)
    os.killpg(launch.pid, signal.SIGKILL)
    launch.wait()
    return launch


@pytest.fixture(scope="session")
def orphaned(slurm):
    """A user whose launch is killed right after sbatch in this module; its job is left to end
    itself alongside the rest of the suite, and looked at the end."""
    with cluster_user(slurm, "rs-killed") as user:
        user.killed = {}
        yield user


@pytest.mark.slurm
def test_a_launch_killed_right_after_sbatch_leaves_its_job_to_end_itself(orphaned):
    orphaned.killed["temporaries"] = snakemake_temporaries(orphaned.account.uid)
    kill_launch_after_sbatch(orphaned, "orphan", "--notebook-timeout", "600")
    orphaned.killed["at"] = time.time()
    orphaned.killed["job"] = job_of(orphaned.home / "orphan")["id"]


@pytest.mark.slurm
@pytest.mark.at_the_end
def test_a_launch_killed_right_after_sbatch_leaves_no_job_running(slurm, orphaned):
    """Nobody runs another command: the job finds its launch's heartbeat stopped and ends itself
    within a minute; `list --all` then shows the session failed, and no Snakemake folder of the
    launch is left in /tmp. (The job ends alongside the suite; this runs at its end.)"""
    job_id, killed_at = orphaned.killed["job"], orphaned.killed["at"]
    assert wait_until(lambda: job_id not in slurm.queue(), 120, 1), "the job runs on"
    ended = subprocess.run(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "End"], env=slurm.env,
                           capture_output=True, text=True).stdout.strip()
    # It ended itself: nobody cancelled it at once, and it did not run on.
    assert 20 < datetime.fromisoformat(ended).timestamp() - killed_at < 100, (ended, killed_at)
    row = listed(orphaned, "orphan")
    assert row["state"] == "failed" and "its launch died before showing the URL" in row["reason"], row
    assert "died before showing the URL" in orphaned.startnotebook("logs", "orphan").stdout
    assert snakemake_temporaries(orphaned.account.uid) <= orphaned.killed["temporaries"]
    again = orphaned.startnotebook("--profile", "slurm", "--name", "orphan", "--notebook-timeout", "30")
    assert again.returncode == 0 and "successfully launched" in again.stdout, again.stderr


@pytest.mark.slurm
def test_a_pending_job_whose_launch_was_killed_is_cancelled_by_the_next_list(slurm):
    """A job held in the queue: while its launch waits, `list` shows it pending and leaves it;
    once the launch is killed, the next `list` cancels it and says why."""
    with cluster_user(slurm, "rs-held") as user:
        user.slurm_profile(slurm={"slurm_extra": "--hold"})
        before = snakemake_temporaries(user.account.uid)
        launch = user.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "held",
                            start_new_session=True)
        launches = user.home / "held" / ".startnotebook" / "launches"
        assert wait_until(lambda: launches.exists() and any(launches.glob("*/job.json")), 60, 0.05)
        job_id = job_of(user.home / "held")["id"]
        waiting = listed(user, "held")
        assert waiting["state"] == "pending", waiting
        assert job_id in slurm.queue()
        os.killpg(launch.pid, signal.SIGKILL)
        launch.wait()
        row = listed(user, "held")
        assert row["state"] == "failed", row
        assert "its launch died before showing the URL" in row["reason"] and "cancelled" in row["reason"], row
        assert wait_until(lambda: job_id not in slurm.queue(), 10)
        assert snakemake_temporaries(user.account.uid) <= before
