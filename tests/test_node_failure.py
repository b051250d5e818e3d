"""A node failure must never give a session two servers or a dead URL (on the test cluster).

SLURM requeues a job whose node fails unless told not to: the launch submits with --no-requeue,
and a job SLURM starts again anyway (scontrol requeue) ends at once (see job.py). A session is
"already running" only while its job runs and its server proves it is the launch's; otherwise
the record is stale and the session is launched afresh, its old job cancelled and a server left
running outside any allocation shut down through its own API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import User, job_of, latest_launch, wait_until
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.slurm
SLURMD_TIMEOUT = 30  # tests/cluster/slurm.conf.template


@pytest.fixture
def researcher(slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    user.slurm_profile()
    yield user
    subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env, check=False)
    wait_until(lambda: not slurm.queue(), 20)


def answering_servers(*urls: str) -> list[str]:
    import requests

    answering = []
    for url in urls:
        try:
            requests.get(url + "/login", timeout=3)
            answering.append(url)
        except requests.RequestException:
            pass
    return answering


def test_a_lost_node_gives_one_new_server_and_the_old_one_is_shut_down(slurm, researcher):
    first = researcher.startnotebook("--profile", "slurm", "--name", "lost", "--notebook-timeout", "900")
    assert first.returncode == 0, first.stderr
    old_url, old_password = parse_banner(first.stdout)
    JupyterSession(old_url, old_password).save_notebook("work.ipynb", "1 + 1")
    old_job = job_of(researcher.home / "lost")["id"]
    node = slurm.scontrol_job(old_job)["NodeList"]
    killed_at = time.monotonic()
    slurm.kill_node(node)
    try:
        # The node looks alive to SLURM for up to SlurmdTimeout: the session may still be "running".
        def state() -> str:
            return json.loads(researcher.startnotebook("list", "--all", "--json").stdout)[0]["state"]

        listed = wait_until(lambda: state() in ("failed", "ended"), 60, 3)
        assert listed, "the lost node's session never showed as ended or failed"
        assert time.monotonic() - killed_at <= 60  # `list` tells within a minute

        relaunched = researcher.startnotebook("--profile", "slurm", "--name", "lost", "--notebook-timeout", "900")
        assert relaunched.returncode == 0, relaunched.stderr
        assert time.monotonic() - killed_at <= SLURMD_TIMEOUT + 60
        assert "already running" not in relaunched.stdout
        assert "still answers" in relaunched.stdout  # the old server, outside any allocation
        new_url, new_password = parse_banner(relaunched.stdout)
        assert new_url != old_url
        new_job = job_of(researcher.home / "lost")["id"]
        assert slurm.queue() == [new_job]  # exactly one job for the name
        assert wait_until(lambda: answering_servers(old_url, new_url) == [new_url], 15)
        JupyterSession(new_url, new_password)
        assert (researcher.home / "lost" / "work.ipynb").exists()
        log = (researcher.home / "lost" / ".startnotebook/logs/server.log").read_text()
        assert log.count("=== startnotebook: launch") == 2  # both launches' logs, appended
    finally:
        slurm.start_node(node)


def test_a_requeue_from_outside_leaves_no_second_server_and_no_stale_url(slurm, researcher):
    first = researcher.startnotebook("--profile", "slurm", "--name", "requeued", "--notebook-timeout", "900")
    assert first.returncode == 0, first.stderr
    url, _ = parse_banner(first.stdout)
    job_id = job_of(researcher.home / "requeued")["id"]
    requeue = subprocess.run(["scontrol", "requeue", job_id], env=slurm.env, capture_output=True, text=True)
    # Refused (the job was submitted with --no-requeue), or the requeued run ends at once.
    time.sleep(10)
    servers = [line for line in subprocess.run(
        ["pgrep", "-af", "startnotebook.server"], capture_output=True, text=True).stdout.splitlines()
        if str(researcher.home / "requeued") in line]
    assert len(servers) <= 1, (servers, requeue.stderr)
    again = researcher.startnotebook("--profile", "slurm", "--name", "requeued", "--notebook-timeout", "60")
    assert again.returncode == 0, again.stderr
    now_url, password = parse_banner(again.stdout)
    JupyterSession(now_url, password)  # whatever is printed answers
    if requeue.returncode != 0:
        assert "already running" in again.stdout and now_url == url, requeue.stderr
    else:
        assert "already running" not in again.stdout and set(answering_servers(url, now_url)) == {now_url}


def test_a_url_that_does_not_answer_is_never_already_running(user):
    first = user.startnotebook("--name", "frozen", "--notebook-timeout", "300")
    assert first.returncode == 0, first.stderr
    handover = json.loads((latest_launch(user.home / "frozen") / "handover.json").read_text())
    os.kill(handover["pid"], signal.SIGSTOP)  # the job lives on; its server answers nothing
    try:
        again = user.startnotebook("--name", "frozen", "--notebook-timeout", "300")
    finally:
        try:
            os.kill(handover["pid"], signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert again.returncode == 0, again.stderr
    assert "already running" not in again.stdout
    assert "is stale" in again.stdout and "no longer answers" in again.stdout
    url, password = parse_banner(again.stdout)
    assert url != parse_banner(first.stdout)[0]
    JupyterSession(url, password)
    assert wait_until(lambda: not Path(f"/proc/{handover['pid']}").exists(), 20)  # the old job was ended


def test_a_job_started_again_by_slurm_ends_at_once(researcher):
    """Where a site forces requeue anyway, the second run of a job starts no second server: its
    script, run again as SLURM would run it (SLURM_RESTART_COUNT set), ends at once."""
    user = researcher
    assert user.startnotebook("--profile", "slurm", "--name", "again", "--notebook-timeout", "300").returncode == 0
    record = latest_launch(user.home / "again")
    assert user.startnotebook("stop", "again").returncode == 0
    (record / "end.json").unlink()  # as if the first run had not recorded its end
    started = time.monotonic()
    rerun = subprocess.run(["bash", str(record / "job.sh")], capture_output=True, text=True, timeout=30,
                           cwd=user.home / "again", env={**user.env, "SLURM_RESTART_COUNT": "1",
                                                         "SLURM_JOB_ID": "4242"})
    assert rerun.returncode == 0 and time.monotonic() - started < 5
    assert "ending at once" in rerun.stdout
    end = json.loads((record / "end.json").read_text())
    assert end["state"] == "failed" and "restarted" in end["reason"]
    assert not (record / "password").exists()
    assert not [pid for pid in user.server_processes()
                if b"startnotebook.server" in Path(f"/proc/{pid}/cmdline").read_bytes()]
