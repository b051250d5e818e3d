"""A declared session rerun: `startnotebook run NAME` (the project's target executed_NAME) executes
its notebooks top to bottom as batch jobs, with its parameters, into the session folder's
executed/; first on this machine (no profile, no container: fast), then once on the SLURM test
cluster as an ordinary user, through snakemake-executor-plugin-slurm."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import User, cluster_user, container_profile, processes_mentioning, wait_until
from startnotebook.settings.reading import schema_errors

# A 1x1 PNG: the figure where the kernel's environment has no matplotlib.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
FIGURE = f"""
try:
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3], [1, 4, 9])
    plt.show()
except ImportError:
    import base64
    from IPython.display import Image, display
    display(Image(data=base64.b64decode("{PNG}")))
"""
HEADER = "name\tflavor\tkernel_timeout\tnotebook_timeout\timage\tnotebooks\tparameters\n"


def notebook(*cells: str, parameters: str | None = None) -> str:
    """A notebook of code cells; ``parameters`` first, tagged as papermill wants it."""
    def code(source: str, tags: list[str] = ()) -> dict:
        return {"cell_type": "code", "execution_count": None, "metadata": {"tags": list(tags)},
                "outputs": [], "source": source}

    body = ([code(parameters, ["parameters"])] if parameters is not None else []) + [code(cell) for cell in cells]
    return json.dumps({"cells": body, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1)


ANALYSIS = notebook("print('n is', type(n).__name__, n)", FIGURE, parameters="n = 1\nlabel = 'default'")
OTHER = notebook("print('the other one')")
BROKEN = notebook("x = 1", "y = 2", "1 / 0", "print('never')")


def make_project(user: User, row: str) -> Path:
    folder = user.home / "project"
    user.run("mkdir", "-p", str(folder / "notebooks"))
    assert user.startnotebook("init", cwd=folder).returncode == 0
    (folder / "notebooks" / "analysis.ipynb").write_text(ANALYSIS)
    (folder / "notebooks" / "other.ipynb").write_text(OTHER)
    (folder / "config" / "sessions.tsv").write_text(HEADER + row + "\n")
    user.owns(folder)
    return folder


def executed(folder: Path, name: str, suffix: str) -> Path:
    return folder / "executed" / f"{name}{suffix}"


def printed(executed_notebook: Path) -> str:
    cells = json.loads(executed_notebook.read_text())["cells"]
    return "".join("".join(output.get("text", "")) for cell in cells for output in cell.get("outputs", []))


def mtimes(folder: Path, *names: str) -> dict[str, float]:
    return {name: executed(folder, name, ".json").stat().st_mtime for name in names}


def check_record(path: Path) -> dict:
    record = json.loads(path.read_text())
    assert schema_errors(record, "run.schema.json") is None, record
    return record


# --- on this machine -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A project with one row (two notebooks, parameters n: 2) and its first run, --param n=3."""
    user = User(tmp_path_factory.mktemp("home"))
    project = make_project(user, "rerun\tsmall\t600\t600\t\tnotebooks/analysis.ipynb,notebooks/other.ipynb"
                                 "\t{n: 2, label: from-the-row}")
    first = user.startnotebook("run", "rerun", "--param", "n=3", cwd=project, timeout=300)
    return user, project, user.home / "rerun", first


def test_a_run_executes_every_notebook_with_its_parameters(local):
    user, project, session, first = local
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for name in ("analysis", "other"):
        for suffix in (".ipynb", ".html", ".json"):
            assert executed(session, name, suffix).is_file(), (name, suffix)
    # --param n=3 is the number 3; the row's label stays; injected after the parameters cell.
    assert "n is int 3" in printed(executed(session, "analysis", ".ipynb"))
    record = check_record(executed(session, "analysis", ".json"))
    assert record["parameters"] == {"n": 3, "label": "from-the-row"} and record["exit"] == 0
    assert record["image"] is None and record["job_id"] is None and record["ended"] >= record["started"]
    assert record["kernel"]["python"].count(".") == 2 and "papermill" in record["kernel"]["packages"]
    assert "data:image/png;base64," in executed(session, "analysis", ".html").read_text()
    # The session folder's notebooks (put there from the row) are never touched by a run.
    assert (session / "analysis.ipynb").read_text() == ANALYSIS
    assert (session / "other.ipynb").read_text() == OTHER


def test_an_unchanged_run_does_nothing_and_a_changed_notebook_reruns_alone(local):
    user, project, session, _ = local
    before = mtimes(session, "analysis", "other")
    again = user.startnotebook("run", "rerun", "--param", "n=3", cwd=project, timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stderr[-3000:]
    assert mtimes(session, "analysis", "other") == before
    edited = session / "other.ipynb"
    edited.write_text(OTHER.replace("the other one", "the other one, edited"))
    future = time.time() + 2  # newer than its outputs, whatever the file system's resolution
    os.utime(edited, (future, future))
    changed = user.startnotebook("run", "rerun", "--param", "n=3", cwd=project, timeout=300)
    assert changed.returncode == 0, changed.stderr[-3000:]
    after = mtimes(session, "analysis", "other")
    assert after["analysis"] == before["analysis"] and after["other"] > before["other"]
    assert "edited" in printed(executed(session, "other", ".ipynb"))


def test_changed_parameters_and_force_rerun(local):
    user, project, session, _ = local
    before = mtimes(session, "analysis", "other")
    changed = user.startnotebook("run", "rerun", "--param", "n=4", cwd=project, timeout=300)
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "n is int 4" in printed(executed(session, "analysis", ".ipynb"))
    forced = user.startnotebook("run", "rerun", "--param", "n=4", "--force", cwd=project, timeout=300)
    assert forced.returncode == 0, forced.stderr[-3000:]
    after = mtimes(session, "analysis", "other")
    assert all(after[name] > before[name] for name in after)


def test_a_failing_cell_is_named_in_one_line_and_its_notebook_kept(local):
    user, project, session, _ = local
    (session / "broken.ipynb").write_text(BROKEN)
    result = user.startnotebook("run", "rerun", "--notebook", "broken.ipynb", "--notebook", "other.ipynb",
                                cwd=project, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("startnotebook: error: notebook broken.ipynb of session rerun failed at cell 3: "
                    "ZeroDivisionError: division by zero"), result.stderr[-3000:]
    kept = executed(session, "broken", ".failed.ipynb")
    assert "ZeroDivisionError" in kept.read_text() and not executed(session, "broken", ".ipynb").exists()
    assert check_record(executed(session, "broken", ".failed.json"))["failed_cell"] == 3
    assert executed(session, "other", ".json").exists()  # the other notebook ran on


def test_a_notebook_past_its_run_timeout_is_stopped_and_says_so(local):
    user, project, session, _ = local
    (session / "forever.ipynb").write_text(notebook("import time", "time.sleep(600)"))
    result = user.startnotebook("run", "rerun", "--notebook", "forever.ipynb", "--run-timeout", "4",
                                cwd=project, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == ("startnotebook: error: notebook forever.ipynb of "
                                                      "session rerun ran past its run timeout of 4 s and was "
                                                      "stopped"), result.stderr[-3000:]
    assert check_record(executed(session, "forever", ".failed.json"))["exit"] == 124
    assert executed(session, "forever", ".failed.ipynb").exists()
    # Its kernel too is gone (it ran with the session's runtime folder).
    assert wait_until(lambda: not processes_mentioning(str(session / ".local")), 10)


BAD = {
    "not YAML": (["--param", "n=[1"], "--param 'n=[1': the value is not valid YAML"),
    "not KEY=VALUE": (["--param", "n"], "--param 'n': give KEY=VALUE"),
    "missing notebook": (["--notebook", "nowhere.ipynb"], "notebook nowhere.ipynb of session rerun does not exist"),
}


@pytest.mark.parametrize("options, message", BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_line_before_any_job(local, options, message):
    user, project, _, _ = local
    result = user.startnotebook("run", "rerun", *options, cwd=project)
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_an_unknown_row_or_no_project_is_one_line(local):
    user, project, _, _ = local
    unknown = user.startnotebook("run", "nosuch", "--project", str(project))
    assert unknown.returncode != 0 and unknown.stderr.count("\n") == 1
    assert "declares no session nosuch (it declares: rerun)" in unknown.stderr
    nowhere = user.startnotebook("run", "rerun")  # the home is no project
    assert nowhere.returncode != 0 and "no project in" in nowhere.stderr


def test_check_shows_the_jobs_and_runs_none(local):
    user, project, session, _ = local
    before = mtimes(session, "analysis", "other")
    check = user.startnotebook("run", "rerun", "--param", "n=4", "--force", "--check", cwd=project)
    assert check.returncode == 0, check.stderr[-3000:]
    assert (check.stdout + check.stderr).count("rule executed_notebook:") == 2
    assert mtimes(session, "analysis", "other") == before


def test_parameters_in_the_sheet_that_are_not_a_mapping_are_one_line(local):
    user, project, _, _ = local
    sheet = project / "config" / "sessions.tsv"
    original = sheet.read_text()
    try:
        sheet.write_text(original + "odd\tsmall\t60\t60\t\tnotebooks/other.ipynb\t[1, 2\n")
        result = user.startnotebook("run", "rerun", cwd=project)
        assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
        assert "sessions.tsv line 3, column parameters: '[1, 2' is not of type 'object'" in result.stderr
    finally:
        sheet.write_text(original)


WHERE = notebook("import json, os, sys; print(json.dumps({'prefix': sys.prefix, 'home': os.environ['HOME'], "
                 "'cwd': os.getcwd()}))")


@pytest.mark.container
def test_the_same_run_inside_the_sessions_image(local, notebook_image):
    """In Charliecloud, on the image of envs/notebook (papermill inside it), with the session's
    HOME and working directory, as its interactive session has them."""
    user, project, session, _ = local
    container_profile(user)
    (session / "where.ipynb").write_text(WHERE)
    result = user.startnotebook("run", "rerun", "--profile", "container", "--notebook", "where.ipynb",
                                cwd=project, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    facts = json.loads(printed(executed(session, "where", ".ipynb")))
    assert facts == {"prefix": "/usr", "home": str(session), "cwd": str(session)}
    record = check_record(executed(session, "where", ".json"))
    assert record["image"] == {"path": str(notebook_image), "digest": notebook_image.name.removeprefix("notebook-")}
    assert "papermill" in record["kernel"]["packages"]


# --- on the SLURM test cluster, as an ordinary user ------------------------------------------------
@pytest.mark.slurm
def test_a_run_on_the_cluster_is_one_batch_job_per_notebook(slurm):
    tiny = {"tiny": {"cpus_per_task": 1, "mem_mb": 1024, "runtime": 10}}
    with cluster_user(slurm, "rerun", flavours=tiny) as user:
        project = make_project(user, "batch\ttiny\t600\t600\t\tnotebooks/analysis.ipynb,notebooks/other.ipynb\t")
        # Outside the project's directory, the project given.
        result = user.startnotebook("run", "batch", "--project", str(project), "--profile", "slurm",
                                    "--param", "n=3", "--run-timeout", "900", timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        session = user.home / "batch"
        records = [check_record(executed(session, name, ".json")) for name in ("analysis", "other")]
        jobs = {record["job_id"] for record in records}
        assert len(jobs) == 2 and None not in jobs
        assert {record["node"] for record in records} <= {"c1", "c2"}
        def accounted() -> bool:
            # Each job with its --time: at least the run timeout (15 min) and a minute to spare.
            listed = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,Timelimit", "-j", ",".join(jobs)],
                                    env=slurm.env, capture_output=True, text=True).stdout.split()
            return sorted(listed) == sorted(f"{job}|00:16:00" for job in jobs)

        assert wait_until(accounted, 30)
        assert "n is int 3" in printed(executed(session, "analysis", ".ipynb"))
        # Plain snakemake in the project keeps the same rerun record: nothing to do.
        same = user.home / "same-parameters.yaml"
        same.write_text("run: {parameters: {n: 3}, timeout: 900}\n")
        user.owns(same)
        again = user.snakemake("--profile", "slurm", "executed_batch", "--configfile", str(same),
                               cwd=project, timeout=300)
        assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stderr[-3000:]
        # A failing cell fails its batch job; the partial notebook outlives it.
        (session / "broken.ipynb").write_text(BROKEN)
        user.owns(session / "broken.ipynb")
        failed = user.startnotebook("run", "batch", "--project", str(project), "--profile", "slurm",
                                    "--notebook", "broken.ipynb", timeout=300)
        assert failed.returncode != 0
        assert failed.stderr.strip().splitlines()[-1].endswith("broken.ipynb of session batch failed at cell 3: "
                                                               "ZeroDivisionError: division by zero"), failed.stderr
        assert check_record(executed(session, "broken", ".failed.json"))["job_id"] not in jobs | {None}
        assert executed(session, "broken", ".failed.ipynb").exists()
