"""Every end a session's server decides saves what the browser holds first, and is the job's own end.

A researcher types into a notebook and a text file and does not save (JupyterLab's autosave is
off, so only the session's own save can keep the text); the tab stays open. Then the session
ends, in each way it can end by itself:

* the wall time on the cluster: JupyterLab warns first, then every open document is saved, and the
  job ends COMPLETED, not TIMEOUT; ``list``, ``info`` and ``usage`` say "wall time reached";
* an admin shortens a running job (``scontrol update TimeLimit=``): the end follows the new limit;
* the wall time on this machine (the local backend keeps it too);
* the notebook timeout, with no kernel but a text file open and unsaved;
* ``startnotebook stop`` while a tab is open.

The sessions run side by side, so the suite waits for the longest wall time once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from conftest import cluster_user, latest_launch, wait_until
from jupyter_session import JupyterSession, parse_banner
from test_browser import browser  # noqa: F401 - the headless Chromium fixture

SESSION_API = "/startnotebook/api/session"
#: Flavours whose wall time a test can wait for, and lead times that fit them.
SHORT_SITE = {
    "flavours": {"two": {"cpus_per_task": 1, "mem_mb": 1024, "runtime": 2},
                 "ten": {"cpus_per_task": 1, "mem_mb": 1024, "runtime": 10}},
    "warnings": {"before_wall_time": [90], "before_notebook_timeout": [20], "before_kernel_cull": [120]},
    "save_before_wall_time": 60,
    "wall_time_recheck": 15,
}
NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                       "outputs": [], "source": ""}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def local_profile(user, name: str, **site) -> str:
    """A site profile of the user's own whose backend is this machine (no executor: local)."""
    profile = user.home / ".config" / "snakemake" / name
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "config.yaml").write_text("cores: 1\n")
    (profile / "site.yaml").write_text(yaml.safe_dump({"backend": "local", **site}))
    user.owns(user.home / ".config")
    return name


def launch(user, name: str, *options: str) -> tuple[str, str]:
    result = user.startnotebook("--name", name, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    return parse_banner(result.stdout)


def without_autosave(url: str, password: str, files: dict[str, object]) -> JupyterSession:
    """The session's files made, and JupyterLab's autosave turned off for this user."""
    jupyter = JupyterSession(url, password)
    settings = url + "/lab/api/settings/@jupyterlab/docmanager-extension:plugin"
    answer = jupyter.http.put(settings, json={"raw": json.dumps({"autosave": False})}, timeout=10)
    assert answer.status_code == 204, answer.text
    for path, content in files.items():
        body = ({"type": "notebook", "format": "json", "content": content} if path.endswith(".ipynb")
                else {"type": "file", "format": "text", "content": content})
        assert jupyter.api("PUT", f"contents/{path}", json=body).status_code in (200, 201)
    return jupyter


def open_lab(browser, url: str, password: str, path: str):  # noqa: F811
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{url}/lab/tree/{path}")
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    page.locator(".jp-startnotebook-clock").wait_for()
    return page


def type_into_cell(page, text: str) -> None:
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.click()
    page.keyboard.type(text)


def type_into_file(page, name: str, text: str) -> None:
    """Open ``name`` from the file browser (no reload: what is open stays unsaved) and type."""
    page.locator(".jp-DirListing-item", has_text=name).dblclick()
    editor = page.locator(".jp-FileEditor .cm-content").last
    editor.click()
    page.keyboard.type(text)


def end_record(user, name: str) -> dict:
    end = latest_launch(user.home / name) / "end.json"
    return json.loads(end.read_text()) if end.exists() else {}


def ended(user, name: str) -> bool:
    return bool(end_record(user, name)) and (latest_launch(user.home / name) / "exit.json").exists()


def job_id(user, name: str) -> str:
    return json.loads((latest_launch(user.home / name) / "job.json").read_text())["id"]


def sacct_state(slurm, job: str) -> str:
    answer = subprocess.run(["sacct", "-j", job, "-X", "-n", "-P", "-o", "State"], env=slurm.env,
                            capture_output=True, text=True)
    return answer.stdout.strip()


def wall_time_end(jupyter: JupyterSession, url: str) -> float:
    session = jupyter.http.get(url + SESSION_API, timeout=10).json()
    wall = next(d for d in session["deadlines"] if d["kind"] == "wall_time")
    return datetime.fromisoformat(wall["at"]).timestamp()


@pytest.mark.slurm
@pytest.mark.browser
def test_every_end_saves_the_open_documents_first_and_the_job_ends_completed(slurm, browser, tmp_path):  # noqa: F811
    with cluster_user(slurm, "ck-ends", **SHORT_SITE) as ada:
        this_machine = local_profile(ada, "this-machine", **SHORT_SITE)

        # 1. A 10-minute session on the cluster whose limit an admin cuts to 2 minutes (first: it
        # ends last, and the others are made while its server looks again).
        moved_url, password = launch(ada, "moved", "--profile", "slurm", "--flavor", "ten")
        moved = JupyterSession(moved_url, password)
        before = wall_time_end(moved, moved_url)
        subprocess.run(["scontrol", "update", f"JobId={job_id(ada, 'moved')}", "TimeLimit=2"],
                       env=slurm.env, check=True)
        new_end = datetime.fromisoformat(slurm.scontrol_job(job_id(ada, "moved"))["EndTime"]).astimezone().timestamp()
        assert new_end < before - 400

        # 2. On the cluster, a 2-minute session: a notebook and a text file, typed, not saved.
        url, password = launch(ada, "wall", "--profile", "slurm", "--flavor", "two",
                               "--kernel-timeout", "130")
        without_autosave(url, password, {"analysis.ipynb": NOTEBOOK, "notes.txt": ""})
        wall = open_lab(browser, url, password, "analysis.ipynb")
        type_into_cell(wall, "x = 'typed on the cluster'")
        type_into_file(wall, "notes.txt", "notes typed on the cluster")
        # Its kernel, idle since it started, is close to its cull (2 minutes, this site): the
        # notebook says so on its toolbar (behind the text file's tab now).
        wall.locator(".jp-NotebookPanel-toolbar .jp-startnotebook-cull",
                     has_text=re.compile(r"Idle kernel shut down in \d:\d\d unless used")).wait_for(state="attached")

        # 3. On this machine, a 2-minute session, the same.
        url, password = launch(ada, "here", "--profile", this_machine, "--flavor", "two")
        without_autosave(url, password, {"notes.txt": ""})
        local = open_lab(browser, url, password, "notes.txt")
        local.locator(".jp-FileEditor .cm-content").click()
        local.keyboard.type("notes typed on this machine")

        # 4. The notebook timeout: no kernel, but a text file open and unsaved.
        url, password = launch(ada, "idle", "--profile", this_machine, "--notebook-timeout", "45")
        without_autosave(url, password, {"draft.txt": ""})
        idle = open_lab(browser, url, password, "draft.txt")
        idle.locator(".jp-FileEditor .cm-content").click()
        idle.keyboard.type("a draft nobody saved")

        # The server looked again (every 15 s in this site): its warnings and its end moved.
        assert wait_until(lambda: wall_time_end(moved, moved_url) == new_end, 40), \
            (wall_time_end(moved, moved_url), new_end)

        # 5. `startnotebook stop` with a tab open: what it holds is saved before the server goes.
        url, password = launch(ada, "stopped", "--profile", this_machine)
        without_autosave(url, password, {"todo.txt": ""})
        stopping = open_lab(browser, url, password, "todo.txt")
        stopping.locator(".jp-FileEditor .cm-content").click()
        stopping.keyboard.type("typed before stop")
        assert ada.startnotebook("stop", "stopped").returncode == 0
        assert (ada.home / "stopped" / "todo.txt").read_text() == "typed before stop"

        # JupyterLab warned of the wall time before the end, in the status bar's words.
        warning = wall.locator(".Toastify__toast", has_text="(wall time)")
        warning.wait_for(timeout=90_000)
        wall.screenshot(path=str(tmp_path / "wall-time-warning.png"))
        assert re.search(r"Session wall ends at \d\d:\d\d \(wall time\)\. Your open documents will be "
                         r"saved 1 minute before\.", warning.inner_text()), warning.inner_text()

        for name in ("wall", "here", "idle", "moved"):
            assert wait_until(lambda: ended(ada, name), 180), (name, end_record(ada, name))
        assert end_record(ada, "moved")["ended"] < new_end, "the shortened session did not end before its new limit"

        # Everything typed is on disk, though nobody saved it.
        cell = json.loads((ada.home / "wall" / "analysis.ipynb").read_text())["cells"][0]["source"]
        assert "x = 'typed on the cluster'" in "".join(cell)
        assert (ada.home / "wall" / "notes.txt").read_text() == "notes typed on the cluster"
        assert (ada.home / "here" / "notes.txt").read_text() == "notes typed on this machine"
        assert (ada.home / "idle" / "draft.txt").read_text() == "a draft nobody saved"

        # The jobs ended by themselves, before the batch system would have killed them.
        for name in ("wall", "moved"):
            assert wait_until(lambda: sacct_state(slurm, job_id(ada, name)) == "COMPLETED", 60), \
                (name, sacct_state(slurm, job_id(ada, name)))
        for name in ("wall", "here", "moved"):
            assert end_record(ada, name)["reason"] == "wall time reached", (name, end_record(ada, name))
            exited = json.loads((latest_launch(ada.home / name) / "exit.json").read_text())
            assert exited["status"] == 0, (name, exited)
        assert end_record(ada, "idle")["reason"].startswith("notebook timeout")

        # list, info and usage say why each ended.
        listed = {row["name"]: row for row in json.loads(ada.startnotebook("list", "--all", "--json").stdout)}
        assert listed["wall"]["state"] == "ended" and listed["wall"]["reason"] == "wall time reached"
        assert "(ended: wall time reached)" in ada.startnotebook("info", "here").stdout
        usage = json.loads(ada.startnotebook("usage", "--json").stdout)
        reasons = {row["name"]: row["last_end_reason"] for row in usage["sessions"]}
        assert reasons["wall"] == reasons["here"] == "wall time reached", reasons
        assert "wall time reached" in ada.startnotebook("usage").stdout


def test_slurms_usr1_ends_the_session_cleanly_when_its_known_end_is_later(user):
    """The safety net of ``sbatch --signal=B:USR1@60``: the signal reaches the batch shell, which
    passes it on; a server that thought its end hours away ends now, cleanly, as at the wall time."""
    launch(user, "signalled")
    job = json.loads((latest_launch(user.home / "signalled") / "job.json").read_text())
    # The local job is `timeout ... bash job.sh`: the batch shell is timeout's child.
    children = Path(f"/proc/{job['id']}/task/{job['id']}/children").read_text().split()
    assert len(children) == 1
    os.kill(int(children[0]), signal.SIGUSR1)
    assert wait_until(lambda: ended(user, "signalled"), 30), end_record(user, "signalled")
    assert end_record(user, "signalled")["reason"] == "wall time reached"
    assert json.loads((latest_launch(user.home / "signalled") / "exit.json").read_text())["status"] == 0
