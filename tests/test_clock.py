"""The session's clock: its own API says when each end comes, and JupyterLab shows it.

A researcher in the browser sees the session's name and the wall time left in the status bar, a
countdown while no kernel runs, and can stop the session from the File menu (their open documents
are saved first). Behind it, GET /startnotebook/api/session answers only after login.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime

import jsonschema
import pytest
import requests

from conftest import REPO, User, latest_launch, wait_until
from jupyter_session import JupyterSession, parse_banner
from startnotebook.jobs.backends.slurm import in_job
from test_browser import browser  # noqa: F401 - the headless Chromium fixture

SESSION_API = "/startnotebook/api/session"
STOP_API = "/startnotebook/api/stop"


def validate(document: dict) -> None:
    schema = json.loads((REPO / "schemas" / "session-api.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)


def epoch(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time).timestamp()


def deadline(session: dict, kind: str) -> dict | None:
    return next((d for d in session["deadlines"] if d["kind"] == kind), None)


def launch(user: User, name: str, *options: str) -> tuple[str, str]:
    result = user.startnotebook("--name", name, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    return parse_banner(result.stdout)


def job_started(user: User, name: str) -> float:
    return json.loads((latest_launch(user.home / name) / "start.json").read_text())["started"]


def state_of(user: User, name: str) -> str | None:
    listed = json.loads(user.startnotebook("list", "--all", "--json").stdout)
    return next((s["state"] for s in listed if s["name"] == name), None)


def test_the_session_api_needs_a_login_and_tells_each_end(user):
    url, password = launch(user, "clocked", "--kernel-timeout", "300", "--notebook-timeout", "400")

    # Without a login: refused, and the stop is refused too (the server still answers).
    assert requests.get(url + SESSION_API, allow_redirects=False, timeout=10).status_code == 403
    assert requests.post(url + STOP_API, allow_redirects=False, timeout=10).status_code == 403

    jupyter = JupyterSession(url, password)
    answer = jupyter.http.get(url + SESSION_API, timeout=10)
    assert answer.status_code == 200
    assert password not in answer.text and "argon2" not in answer.text
    session = answer.json()
    validate(session)
    assert (session["name"], session["backend"], session["flavour"]["name"]) == ("clocked", "local", "small")
    assert (session["flavour"]["cpus"], session["flavour"]["memory_mb"]) == (1, 8192)
    assert session["timeouts"] == {"kernel": 300, "notebook": 400}
    assert session["launch"] == latest_launch(user.home / "clocked").name

    # The local backend's wall time: the flavour's 480 minutes from the job's start.
    wall = deadline(session, "wall_time")
    assert abs(epoch(wall["at"]) - (job_started(user, "clocked") + 480 * 60)) <= 1
    assert wall["then"] == "the session ends" and wall["warn_before"] == [600, 120]
    # No kernel yet: the notebook timeout counts down; its 120 s warning fits into its 400 s.
    empty = deadline(session, "notebook_timeout")
    assert 390 <= epoch(empty["at"]) - epoch(session["now"]) <= 400
    assert empty["warn_before"] == [120]

    # A kernel starts: the notebook timeout is off, the kernel's idle cull is on.
    kernel = jupyter.start_kernel()
    session = jupyter.http.get(url + SESSION_API, timeout=10).json()
    validate(session)
    assert deadline(session, "notebook_timeout") is None
    cull = deadline(session, "kernel_idle")
    assert cull["kernel"] == kernel
    assert 290 <= epoch(cull["at"]) - epoch(session["now"]) <= 300
    assert session["idle"]["kernels"] == 1

    assert user.startnotebook("stop", "clocked").returncode == 0


@pytest.mark.slurm
def test_on_slurm_the_wall_time_ends_when_the_controller_says(slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    try:
        url, password = launch(user, "clocked-slurm", "--profile", "slurm")
        job_id = json.loads((latest_launch(user.home / "clocked-slurm") / "job.json").read_text())["id"]
        end = datetime.fromisoformat(slurm.scontrol_job(job_id)["EndTime"]).astimezone().timestamp()
        jupyter = JupyterSession(url, password)

        def wall_time_end() -> float | None:
            session = jupyter.http.get(url + SESSION_API, timeout=10).json()
            validate(session)
            assert (session["backend"], session["job_id"]) == ("slurm", job_id)
            return epoch(deadline(session, "wall_time")["at"])

        # The server asks the controller once as it starts, in the background.
        assert wait_until(lambda: wall_time_end() == end, 10), (wall_time_end(), end)
        log = user.home / "clocked-slurm" / ".startnotebook" / "logs" / "server.log"
        assert wait_until(lambda: "(as the controller says)" in log.read_text(), 10)
        assert user.startnotebook("stop", "clocked-slurm").returncode == 0
    finally:
        subprocess.run(["scancel", "--quiet", "--name", "clocked-slurm"], env=slurm.env, check=False)


def test_the_end_of_a_slurm_job_is_read_from_scontrol():
    line = ("JobId=4711 JobName=my-research UserId=ada(1000) JobState=RUNNING TimeLimit=08:00:00 "
            "StartTime=2026-12-02T09:42:00 EndTime=2026-12-02T17:42:00 Deadline=N/A")
    assert in_job.parse_end_time(line) == datetime(2026, 12, 2, 17, 42).astimezone().timestamp()
    assert in_job.parse_end_time("JobId=4711 JobState=PENDING EndTime=Unknown") is None
    assert in_job.parse_end_time("slurm_load_jobs error: Invalid job id specified") is None


@pytest.fixture
def ann():
    user = User.ordinary("ck-ann")
    yield user
    user.account.remove()


def minutes_left(status_text: str) -> int:
    hours, minutes = re.search(r"(\d+):(\d\d) left", status_text).groups()
    return int(hours) * 60 + int(minutes)


@pytest.mark.browser
def test_the_status_bar_shows_the_clock_and_stop_session_saves_and_ends(ann, browser, tmp_path):  # noqa: F811
    # A notebook timeout just longer than its 120 s warning: the warning comes within seconds.
    url, password = launch(ann, "ann-clock", "--notebook-timeout", "125")
    jupyter = JupyterSession(url, password)
    jupyter.api("PUT", "contents/notes.txt", json={"type": "file", "format": "text", "content": ""})
    truth = epoch(deadline(jupyter.http.get(url + SESSION_API, timeout=10).json(), "wall_time")["at"])

    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    clock = page.locator(".jp-startnotebook-clock")
    clock.get_by_text("unless a kernel starts").wait_for()
    text = clock.inner_text()
    shot = tmp_path / "status-bar.png"
    page.screenshot(path=str(shot))
    print(f"status bar: {text!r}; screenshot: {shot}")
    assert text.startswith("ann-clock · ")
    # h:mm is rounded down to the minute: within 60 s of the truth.
    assert abs(minutes_left(text) * 60 - (truth - time.time())) <= 60
    assert re.search(r"stops in \d+:\d\d unless a kernel starts", text)
    warning = page.locator(".Toastify__toast", has_text="(notebook timeout)")
    warning.wait_for(timeout=15_000)
    page.screenshot(path=str(tmp_path / "warning.png"))
    assert re.search(r"Session ann-clock stops at \d\d:\d\d unless a kernel starts", warning.inner_text())

    # Text typed but not saved, then File > Stop session: saved, the server gone, the session ended.
    page.goto(url + "/lab/tree/notes.txt")
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.click()
    page.keyboard.type("typed before the stop")
    page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
    page.locator(".lm-Menu-itemLabel", has_text="Stop session").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Stop session").click()
    assert wait_until(lambda: state_of(ann, "ann-clock") == "ended", 15), state_of(ann, "ann-clock")
    assert (ann.home / "ann-clock" / "notes.txt").read_text() == "typed before the stop"
    assert "Stop session" in json.loads((latest_launch(ann.home / "ann-clock") / "end.json").read_text())["reason"]
