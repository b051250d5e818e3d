"""Reproducible sessions declared in a project directory (`startnotebook init`), launched with
`snakemake --profile slurm notebook_NAME` from there, by an ordinary user, with the installed
package and nothing else: rows of a sessions sheet, notebooks they bring, images of their own."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from conftest import REPO, User, cluster_user, job_of, slurm_test_cluster, wait_until
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.slurm
INIT_FILES = ["config/config.yaml", "config/sessions.tsv", "workflow/Snakefile",
              "workflow/profiles/default/config.yaml"]


@pytest.fixture(scope="module")
def notebooks_server():
    """A colleague's notebooks on the web (an HTTP server of the test's own, in the hub)."""
    root = Path("/srv/sntest-www")
    root.mkdir(parents=True, exist_ok=True)
    (root / "prepared.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "Prepared by a colleague"}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def researcher(slurm):
    tiny = {"tiny": {"cpus_per_task": 2, "mem_mb": 1024, "runtime": 30}}
    with cluster_user(slurm, "project", flavours=tiny) as user:
        yield user


@pytest.fixture(scope="module")
def project(researcher):
    folder = researcher.home / "my-project"
    researcher.run("mkdir", str(folder))
    result = researcher.startnotebook("init", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def add_row(user: User, project: Path, *cells: str) -> None:
    with open(project / "config" / "sessions.tsv", "a") as sheet:
        sheet.write("\t".join(cells) + "\n")
    user.owns(project / "config")


def test_init_writes_the_layout_of_snakemakes_template_and_never_overwrites(researcher, project):
    assert sorted(str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()) == INIT_FILES
    again = researcher.startnotebook("init", cwd=project)
    assert again.returncode != 0 and again.stderr.count("\n") == 1 and "exists already" in again.stderr
    lint = researcher.snakemake("--lint", cwd=project)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr


def test_a_row_launches_with_snakemake_and_the_slurm_profile(slurm, researcher, project, notebooks_server):
    add_row(researcher, project, "shared", "tiny", "120", "900", "", f"{notebooks_server}/prepared.ipynb")
    result = researcher.snakemake("--profile", "slurm", "notebook_shared", cwd=project, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    url, password = parse_banner(result.stdout)
    job = slurm.scontrol_job(job_of(researcher.home / "shared")["id"])
    assert job["NumCPUs"] == "2" and "mem=1G" in job["TRES"] and job["TimeLimit"] == "00:30:00"
    config = json.loads(sorted((researcher.home / "shared/.startnotebook/launches").glob("*/jupyter_config.json"))[-1]
                        .read_text())
    assert config["MappingKernelManager"]["cull_idle_timeout"] == 120
    assert config["SessionServerApp"]["notebook_timeout"] == 900
    jupyter = JupyterSession(url, password)
    assert "Prepared by a colleague" in jupyter.api("GET", "contents/prepared.ipynb").text
    # Nothing of ours in the project but what Snakemake itself keeps (.snakemake/).
    assert sorted(path.name for path in project.iterdir()) == [".snakemake", "config", "workflow"]


def test_a_relaunch_keeps_the_users_edit_of_a_notebook_it_brought(researcher, project):
    notebook = researcher.home / "shared" / "prepared.ipynb"
    edited = json.loads(notebook.read_text())
    edited["cells"][0]["source"] = "My own notes now"
    notebook.write_text(json.dumps(edited))
    assert researcher.startnotebook("stop", "shared").returncode == 0
    result = researcher.startnotebook("--name", "shared", "--profile", "slurm", cwd=project, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "My own notes now" in notebook.read_text()
    assert researcher.startnotebook("stop", "shared").returncode == 0


def test_startnotebook_run_in_the_project_uses_the_row(researcher, project):
    check = researcher.startnotebook("--profile", "slurm", "--check", "--name", "shared", cwd=project)
    assert "--cpus-per-task=2" in check.stdout and "kernel timeout   : 120 s" in check.stdout
    elsewhere = researcher.startnotebook("--profile", "slurm", "--check", "--name", "shared")
    assert "--cpus-per-task=1" in elsewhere.stdout  # outside the project: the site's defaults


def test_site_settings_apply_whatever_config_files_the_user_adds(researcher, project, tmp_path_factory):
    extra = researcher.home / "extra.yaml"
    extra.write_text(yaml.safe_dump({"flavours": {"huge": {"cpus_per_task": 64, "mem_mb": 1, "runtime": 1}}}))
    researcher.owns(extra)
    result = researcher.snakemake("--profile", "slurm", "notebook_shared", "--configfile", str(extra), cwd=project)
    assert result.returncode != 0
    assert "'flavours' is a site setting" in result.stdout + result.stderr
    sessions = researcher.home / "more.yaml"
    sessions.write_text(yaml.safe_dump({"sessions": {"added": {"flavor": "tiny"}}}))
    researcher.owns(sessions)
    dry = researcher.snakemake("--profile", "slurm", "notebook_added", "--configfile", str(sessions),
                               "--dry-run", cwd=project)
    assert dry.returncode == 0, dry.stdout + dry.stderr  # the profile's site (SLURM) still applies


BAD_ROWS = {
    "unknown flavour": (["bad-flavour", "huge", "60", "60", "", ""], "column flavor: unknown flavour 'huge'"),
    "duplicate name": (["my-analysis", "small", "60", "60", "", ""], "column name: session 'my-analysis' is declared twice"),
    "bad timeout": (["slow", "small", "ten", "60", "", ""], "column kernel_timeout: 'ten' is not of type 'integer'"),
    "bad name": (["a{x}b", "small", "60", "60", "", ""], "column name: the session name 'a{x}b' contains '{'"),
}


@pytest.mark.parametrize("cells, message", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_bad_row_is_one_line_naming_its_line_and_column(researcher, project, cells, message):
    sheet = project / "config" / "sessions.tsv"
    original = sheet.read_text()
    try:
        add_row(researcher, project, *cells)
        lines = len(sheet.read_text().splitlines())
        result = researcher.startnotebook("--profile", "slurm", "--name", "my-analysis", cwd=project)
        assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
        assert f"sessions.tsv line {lines}, {message}" in result.stderr
        assert not (researcher.home / "my-analysis").exists()
        snakemake = researcher.snakemake("--profile", "slurm", "notebook_my-analysis", cwd=project)
        assert snakemake.returncode != 0 and message in snakemake.stdout + snakemake.stderr
    finally:
        sheet.write_text(original)


def test_a_column_that_does_not_exist_is_named(researcher, project):
    sheet = project / "config" / "sessions.tsv"
    original = sheet.read_text()
    try:
        sheet.write_text(original.replace("flavor", "colour", 1))
        result = researcher.startnotebook("--profile", "slurm", "--name", "my-analysis", cwd=project)
        assert result.returncode != 0 and "column 'colour': not a session field" in result.stderr
    finally:
        sheet.write_text(original)


def test_a_notebook_that_cannot_be_fetched_fails_before_any_job(slurm, researcher, project, notebooks_server):
    add_row(researcher, project, "missing", "tiny", "60", "60", "", f"{notebooks_server}/nowhere.ipynb")
    result = researcher.startnotebook("--profile", "slurm", "--name", "missing", cwd=project)
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert f"notebook {notebooks_server}/nowhere.ipynb of session missing cannot be fetched" in result.stderr
    assert not [job for job in slurm.queue() if slurm.scontrol_job(job)["JobName"] == "missing"]


def test_a_project_launch_that_fails_leaves_no_job_behind(slurm, researcher, project):
    """Snakemake runs a module's onerror nowhere: the launch's own steps cancel its job."""
    researcher.slurm_profile(url_timeout=8, flavours={
        "queued": {"cpus_per_task": 1, "mem_mb": 512, "runtime": 10, "slurm_partition": "stuck"}})
    add_row(researcher, project, "queued-for-ever", "queued", "60", "60", "", "")
    try:
        result = researcher.snakemake("--profile", "slurm", "notebook_queued-for-ever", cwd=project)
        assert result.returncode != 0
        assert "no notebook URL after 8 s" in result.stdout + result.stderr
        assert wait_until(lambda: not [job for job in slurm.queue()
                                       if slurm.scontrol_job(job)["JobName"] == "queued-for-ever"], 10)
    finally:
        researcher.slurm_profile(url_timeout=600)


def test_a_row_with_its_own_recipe_gets_its_own_image_built_without_root(slurm, researcher, project):
    """The image is built by the user, as a batch job on a compute node (through the site's
    proxy, the nodes' only way out), through user namespaces; then the session runs in it."""
    recipe = project / "recipes" / "slim"
    recipe.mkdir(parents=True)
    (recipe / "debian-packages.txt").write_text("python3\npython3-pip\nca-certificates\n")
    # Only what a session's server needs (no JupyterLab: the tests talk to Jupyter's API), and six.
    (recipe / "requirements.txt").write_text("jupyter-server>=2.10,<3\nipykernel>=6\nsix\n")
    shutil.copy(REPO / "envs" / "notebook" / "mount-points.txt", recipe / "mount-points.txt")
    researcher.owns(project / "recipes")
    images = researcher.home / ".cache" / "startnotebook" / "images"
    researcher.slurm_profile(container={"runtime": "charliecloud", "binds": ["/srv"],
                                        "build_proxy": slurm_test_cluster.PROXY_URL})
    add_row(researcher, project, "boxed", "tiny", "60", "600", "recipes/slim", "")
    try:
        result = researcher.snakemake("--profile", "slurm", "notebook_boxed", cwd=project, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        built = [path for path in images.glob("notebook-*") if path.is_dir()]
        assert len(built) == 1 and built[0].stat().st_uid == researcher.account.uid
        jobs = subprocess.run(["squeue", "-h", "-t", "all", "-u", researcher.account.name, "-o", "%k|%T"],
                              env=slurm.env, capture_output=True, text=True).stdout.splitlines()
        assert [job for job in jobs if "rule_image" in job and job.endswith("|COMPLETED")], jobs
        jupyter = JupyterSession(*parse_banner(result.stdout))
        kernel = jupyter.connect(jupyter.start_kernel())
        assert kernel.execute("import os, six, sys; (sys.prefix, os.getuid())") == \
            f"('/usr', {researcher.account.uid})"
    finally:
        researcher.slurm_profile(container={"runtime": "none"})
