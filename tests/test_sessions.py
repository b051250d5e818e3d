"""A researcher (an ordinary user) with several sessions: list them, read one's details, follow its
log, stop them, and see what they used; a launch killed midway and a job cancelled from outside
show as failed, and the name launches again. On the test cluster, and on this machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, User, cluster_user, job_of, validate, wait_until
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def researcher(slurm):
    with cluster_user(slurm, "sessions") as user:
        yield user


def counting_shims(user: User) -> Path:
    """sbatch, squeue, ... wrappers that note each call, then run the real command."""
    shims, calls = user.home / "shims", user.home / "calls"
    shims.mkdir(exist_ok=True)
    for command in ("sbatch", "squeue", "scancel", "scontrol", "sacct", "sinfo"):
        (shims / command).write_text(f'#!/bin/sh\necho {command} >> {calls}\nexec /usr/bin/{command} "$@"\n')
        (shims / command).chmod(0o755)
    user.owns(shims)
    return shims


def controller_calls(user: User, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = user.home / "calls"
    calls.unlink(missing_ok=True)
    shims = counting_shims(user)
    result = subprocess.run(user.command(str(BIN / "startnotebook"), *args), capture_output=True,
                            text=True, timeout=120, cwd=user.home,
                            env={**user.env, "PATH": f"{shims}:{user.env['PATH']}"})
    return result, calls.read_text().split() if calls.exists() else []


@pytest.fixture(scope="module")
def three_sessions(researcher):
    """Two sessions on the cluster, one on this machine, as their banners showed them."""
    banners = {
        "wave": researcher.startnotebook("--profile", "slurm", "--name", "wave", "--notebook-timeout", "900"),
        "tide": researcher.startnotebook("--profile", "slurm", "--name", "tide", "--flavor", "medium",
                                         "--notebook-timeout", "900"),
        "shore": researcher.startnotebook("--name", "shore", "--notebook-timeout", "900"),
    }
    for name, result in banners.items():
        assert result.returncode == 0, (name, result.stdout + result.stderr)
    return {name: parse_banner(result.stdout) for name, result in banners.items()}, banners


def test_list_shows_every_session_with_its_state_and_url_asking_the_controller_once(researcher, three_sessions):
    banners, _ = three_sessions
    result, calls = controller_calls(researcher, "list")
    assert result.returncode == 0, result.stderr
    assert calls == ["squeue"], calls  # one question for all the sessions
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, result.stdout
    assert lines[0].split() == ["NAME", "STATE", "BACKEND", "JOB", "NODE", "URL", "FLAVOR", "STARTED",
                                "IDLE", "LEFT", "FOLDER"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"wave", "tide", "shore"}
    for name, (url, _) in banners.items():
        assert rows[name][1] == "running" and url in rows[name]
    assert rows["shore"][2] == "local" and rows["wave"][2] == rows["tide"][2] == "slurm"

    listed = json.loads(researcher.startnotebook("list", "--json").stdout)
    validate(listed, "list.schema.json")
    by_name = {row["name"]: row for row in listed}
    assert by_name["tide"]["flavor"] == "medium" and by_name["tide"]["node"] in ("c1", "c2")
    assert by_name["wave"]["time_left"] and by_name["wave"]["time_left"].startswith(("7:5", "8:00"))
    assert by_name["wave"]["folder"] == str(researcher.home / "wave")


def test_info_gives_the_printed_url_and_password_and_the_tunnel(researcher, three_sessions):
    (url, password), banner = three_sessions[0]["tide"], three_sessions[1]["tide"].stdout
    info = json.loads(researcher.startnotebook("info", "tide", "--json").stdout)
    validate(info, "info.schema.json")
    connection = info["connection"]
    assert (connection["url"], connection["password"]) == (url, password)
    node, port = connection["host"], connection["port"]
    tunnel = f"ssh -N -L {port}:{node}:{port} {researcher.account.name}@"
    assert connection["tunnel"]["command"].startswith(tunnel)
    # The cluster's nodes are not reachable from a laptop (site setting): the banner says how.
    assert tunnel in banner and f"http://localhost:{port}" in banner
    text = researcher.startnotebook("info", "tide").stdout
    for expected in (url, password, tunnel, "medium (4 cpus, 32768 MB)", "server.log", "left, ends at"):
        assert expected in text, expected
    JupyterSession(url, password)


def test_logs_show_the_servers_lines(researcher, three_sessions):
    result = researcher.startnotebook("logs", "wave")
    assert result.returncode == 0
    assert "Jupyter Server" in result.stdout and "is running at" in result.stdout
    assert "=== startnotebook: launch" in result.stdout
    assert "rule submit" in researcher.startnotebook("logs", "wave", "--workflow").stdout


def test_stop_ends_a_cluster_session_within_15_s_and_keeps_its_files(slurm, researcher, three_sessions):
    url, password = three_sessions[0]["wave"]
    JupyterSession(url, password).save_notebook("kept.ipynb", "1 + 1")
    job_id = job_of(researcher.home / "wave")["id"]
    started = time.monotonic()
    result = researcher.startnotebook("stop", "wave")
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: job_id not in slurm.queue(), 15 - (time.monotonic() - started), 0.2)
    assert slurm.scontrol_job(job_id)["JobState"] == "COMPLETED"  # the server ended, not killed
    assert (researcher.home / "wave" / "kept.ipynb").exists()
    listed = {row["name"]: row for row in json.loads(researcher.startnotebook("list", "--all", "--json").stdout)}
    assert listed["wave"]["state"] == "ended" and "wave" not in researcher.startnotebook("list").stdout
    again = researcher.startnotebook("stop", "wave")
    assert again.returncode == 0 and "not running" in again.stdout
    unknown = researcher.startnotebook("stop", "no-such-session")
    assert unknown.returncode != 0 and unknown.stderr.count("\n") == 1 and "no session no-such-session" in unknown.stderr


def test_stop_ends_a_local_session_and_leaves_no_process(researcher, three_sessions):
    job = job_of(researcher.home / "shore")
    result = researcher.startnotebook("stop", "shore")
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: not Path(f"/proc/{job['id']}").exists(), 15)
    assert not [pid for pid in researcher.account.processes()
                if b"shore" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_logs_follow_until_the_session_ends(researcher):
    launched = researcher.startnotebook("--name", "brief", "--notebook-timeout", "4")
    assert launched.returncode == 0, launched.stderr
    started = time.monotonic()
    result = researcher.startnotebook("logs", "brief", "-f", timeout=60)
    assert result.returncode == 0
    assert "notebook timeout" in result.stdout
    assert time.monotonic() - started < 30


def test_no_controller_call_when_no_record_is_live(researcher, three_sessions):
    for name in ("tide",):
        researcher.startnotebook("stop", name)
    result, calls = controller_calls(researcher, "list", "--all")
    assert result.returncode == 0
    assert calls == [], calls


def test_a_session_may_be_called_like_a_command(researcher):
    result = researcher.startnotebook("--name", "list", "--notebook-timeout", "3")
    assert result.returncode == 0, result.stderr
    assert (researcher.home / "list" / ".startnotebook").is_dir()
    assert "list" in researcher.startnotebook("info", "list").stdout


def test_a_killed_launch_whose_job_can_never_start_leaves_no_job_behind(slurm, researcher):
    """Its job would wait in the queue for ever (64 CPUs on 12-CPU nodes): `list` says so and,
    its launch being dead, cancels it."""
    researcher.slurm_profile(flavours={"wide": {"cpus_per_task": 64, "mem_mb": 1024, "runtime": 60}})
    launches = researcher.home / "wide" / ".startnotebook" / "launches"
    launch = researcher.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "wide",
                              "--flavor", "wide")
    assert wait_until(lambda: launches.exists() and any(launches.glob("*/job.json")), 30)
    os.kill(launch.pid, signal.SIGKILL)  # before the launch first looks at the queue (after 5 s)
    launch.wait()
    job_id = job_of(researcher.home / "wide")["id"]
    listed = {row["name"]: row for row in json.loads(researcher.startnotebook("list", "--all", "--json").stdout)}
    assert listed["wide"]["state"] == "failed", listed["wide"]
    assert "can never start" in listed["wide"]["reason"], listed["wide"]
    assert "its launch died before showing the URL" in listed["wide"]["reason"], listed["wide"]
    assert wait_until(lambda: job_id not in slurm.queue(), 15)
    stopped = researcher.startnotebook("stop", "wide")
    assert stopped.returncode == 0 and "not running" in stopped.stdout, stopped.stdout + stopped.stderr


def test_a_killed_launch_and_a_job_cancelled_from_outside_show_as_failed_and_launch_again(slurm, researcher):
    researcher.slurm_profile(slurm={"slurm_partition": "stuck"})
    try:
        launch = researcher.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "killed")
        assert wait_until(lambda: (researcher.home / "killed/.startnotebook/launches").exists()
                          and any((researcher.home / "killed/.startnotebook/launches").glob("*/job.json")), 30)
        os.kill(launch.pid, signal.SIGKILL)  # as a closed terminal or an OOM killer would
        launch.wait()
    finally:
        researcher.slurm_profile(slurm={"slurm_partition": None})
    listed = {row["name"]: row for row in json.loads(researcher.startnotebook("list", "--all", "--json").stdout)}
    assert listed["killed"]["state"] == "failed", listed["killed"]
    assert "its launch died before showing the URL" in listed["killed"]["reason"], listed["killed"]
    orphan = job_of(researcher.home / "killed")["id"]

    again = researcher.startnotebook("--profile", "slurm", "--name", "killed", "--notebook-timeout", "300")
    assert again.returncode == 0, again.stderr
    assert orphan not in slurm.queue()  # the killed launch's job was cancelled, not left behind
    job_id = job_of(researcher.home / "killed")["id"]
    subprocess.run(["scancel", job_id], env=slurm.env, check=True)
    assert wait_until(lambda: job_id not in slurm.queue(), 15)
    listed = {row["name"]: row for row in json.loads(researcher.startnotebook("list", "--all", "--json").stdout)}
    assert listed["killed"]["state"] in ("failed", "ended"), listed["killed"]
    third = researcher.startnotebook("--profile", "slurm", "--name", "killed", "--notebook-timeout", "60")
    assert third.returncode == 0, third.stderr
    assert "already running" not in third.stdout
