"""A project's environments as the session's kernels: a sheet row with ``kernels: analysis`` and
the project's ``kernels/analysis/requirements.txt`` (one small PyPI package). The workflow builds
the environment once, as a batch job under --profile slurm, and the session offers kernel
"analysis", which imports the package; the next launch builds nothing. In the Charliecloud image
the environment is built with the image's Python, in the image, and its kernel runs there. As an
ordinary user on the test cluster, with real Jupyter."""

from __future__ import annotations

import json
import os
import re

import pytest

from conftest import cluster_user, container_profile, slurm_test_cluster
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.slurm
TINY = {"tiny": {"cpus_per_task": 1, "mem_mb": 1024, "runtime": 30}}


@pytest.fixture(scope="module")
def researcher(slurm):
    # The build runs on a compute node, whose only way to the package index is the test's proxy.
    with cluster_user(slurm, "envs", flavours=TINY, container={"build_proxy": slurm_test_cluster.PROXY_URL}) as user:
        yield user


@pytest.fixture(scope="module")
def project(researcher):
    folder = researcher.home / "environments"
    researcher.run("mkdir", "-p", str(folder))
    assert researcher.startnotebook("init", cwd=folder).returncode == 0  # its sheet: config/sessions.tsv
    (folder / "config" / "sessions.tsv").write_text(
        "name\tflavor\tkernels\tnotebooks\nanalysed\ttiny\tanalysis\t\nmisnamed\ttiny\tnosuch\t\n"
        "batched\ttiny\tanalysis\tnotebooks/where.ipynb\n")
    (folder / "kernels" / "analysis").mkdir(parents=True)
    (folder / "kernels" / "analysis" / "requirements.txt").write_text("six\n")
    # A notebook saved with the project's kernel: a rerun of it runs in that environment.
    (folder / "notebooks").mkdir()
    (folder / "notebooks" / "where.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                   "source": "import sys, six; print(sys.prefix, six.__name__)"}],
        "metadata": {"kernelspec": {"name": "analysis", "display_name": "analysis", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    researcher.owns(folder)
    return folder


def build_logs(researcher) -> list:
    return sorted((researcher.home / ".cache/startnotebook/images/kernels").glob("analysis-*.log"))


def kernel_sees(jupyter: JupyterSession, kernel_name: str, code: str):
    kernel = jupyter.connect(jupyter.start_kernel(kernel_name))
    try:
        return json.loads(kernel.execute(code))
    finally:
        kernel.close()


def test_a_rows_environment_is_built_once_as_a_batch_job_and_offered_as_its_kernel(slurm, researcher, project):
    check = researcher.startnotebook("--profile", "slurm", "--name", "analysed", "--check", cwd=project)
    assert check.returncode == 0, check.stderr
    assert re.search(r"project kernels\s+: analysis \(to build: \S+/kernels/analysis-[0-9a-f]{12}\)", check.stdout), \
        check.stdout
    launched = researcher.startnotebook("--profile", "slurm", "--name", "analysed", "--notebook-timeout", "120",
                                        cwd=project, timeout=900)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    [log] = build_logs(researcher)
    built_in = re.match(r"building (\S+) in job (\d+) on (c1|c2)\n", log.read_text())
    assert built_in, log.read_text()[:500]  # a batch job on a compute node
    environment = built_in.group(1)

    jupyter = JupyterSession(*parse_banner(launched.stdout))
    specs = jupyter.api("GET", "kernelspecs").json()["kernelspecs"]
    assert {"analysis", "python3"} <= set(specs), specs
    seen = kernel_sees(jupyter, "analysis", "import json, sys, six; print(json.dumps([sys.prefix, six.__name__]))")
    assert seen == [environment, "six"]
    record = sorted((researcher.home / "analysed/.startnotebook/launches").glob("*/launch.json"))[-1]
    assert json.loads(record.read_text())["kernels"] == ["analysis"]
    assert researcher.startnotebook("stop", "analysed").returncode == 0

    # Unchanged: found as built, nothing is built again, though the recipe's file is newer than
    # the environment (as in a fresh clone of the project): the digest says what changed.
    built = log.stat().st_mtime
    os.utime(project / "kernels" / "analysis" / "requirements.txt")
    check = researcher.startnotebook("--profile", "slurm", "--name", "analysed", "--check", cwd=project)
    assert re.search(r"project kernels\s+: analysis \(built: ", check.stdout), check.stdout
    again = researcher.startnotebook("--profile", "slurm", "--name", "analysed", "--notebook-timeout", "60",
                                     cwd=project, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert build_logs(researcher) == [log] and log.stat().st_mtime == built
    assert researcher.startnotebook("stop", "analysed").returncode == 0


def test_a_kernel_without_its_recipe_is_refused_before_anything_is_submitted(researcher, project):
    for args in (["--check"], []):
        refused = researcher.startnotebook("--profile", "slurm", "--name", "misnamed", *args, cwd=project)
        assert refused.returncode != 0 and refused.stderr.count("\n") == 1, refused.stderr
        assert "kernel nosuch: the project has no nosuch/requirements.txt" in refused.stderr
    assert not list((researcher.home / "misnamed").rglob("launch.json"))


def test_in_the_image_the_environment_is_built_with_the_images_python_and_its_kernel_runs_there(
        researcher, project, notebook_image):
    images = researcher.home / ".cache" / "startnotebook" / "images"
    container_profile(researcher, flavours=TINY, container={
        "image": str(notebook_image), "image_dir": str(images), "build_proxy": slurm_test_cluster.PROXY_URL})
    researcher.owns(researcher.home / ".config")
    before = set(build_logs(researcher))
    launched = researcher.startnotebook("--profile", "container", "--name", "analysed", "--notebook-timeout", "60",
                                        cwd=project, timeout=900)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    [log] = set(build_logs(researcher)) - before  # another environment: the image's Python is another
    assert "$ ch-run " in log.read_text(), log.read_text()[:1000]
    jupyter = JupyterSession(*parse_banner(launched.stdout))
    assert "analysis" in jupyter.api("GET", "kernelspecs").json()["kernelspecs"]
    seen = kernel_sees(jupyter, "analysis", "import json, os, sys, six; print(json.dumps("
                       "[sys.prefix, sys.base_prefix, os.path.isdir('/opt/startnotebook/startnotebook'), six.__name__]))")
    # The kernel runs in the image (the package is bound there only), its prefix where it is bound.
    assert seen == [f"/opt/startnotebook/kernels/{log.stem}", "/usr", True, "six"], seen
    assert researcher.startnotebook("stop", "analysed").returncode == 0

    # A rerun of a notebook saved with kernel "analysis" runs it there too, building nothing.
    run = researcher.startnotebook("run", "batched", "--profile", "container", cwd=project, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    executed = json.loads((researcher.home / "batched" / "executed" / "where.ipynb").read_text())
    printed = "".join("".join(output.get("text", "")) for cell in executed["cells"] for output in cell.get("outputs", []))
    assert printed.strip() == f"/opt/startnotebook/kernels/{log.stem} six", printed
    assert set(build_logs(researcher)) - before == {log}
