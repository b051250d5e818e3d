"""GPUs (issue 19) on the test cluster, whose nodes advertise gpu:2 through GRES (device files the
cluster makes, tests/cluster/): a flavour asking for one gets it, and its kernel sees it; one
asking for three is refused before anything is submitted; info, list, --check and usage show the
GPUs. As an ordinary user, with a site profile that has GPU flavours.
"""

from __future__ import annotations

import json
import subprocess
import time

import yaml
import pytest

from conftest import BIN, REPO, cluster_user, job_of, validate, wait_until
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.slurm
GPU_FLAVOURS = {
    "gpu": {"cpus_per_task": 1, "mem_mb": 1024, "runtime": 60, "gpus": 1},
    "gpu3": {"cpus_per_task": 1, "mem_mb": 1024, "runtime": 60, "gpus": 3},
}


@pytest.fixture(scope="module")
def researcher(slurm):
    with cluster_user(slurm, "gpus", flavours=GPU_FLAVOURS) as user:
        yield user


def counted(user, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``startnotebook ARGS`` with sbatch, sinfo, ... wrappers first on PATH that note each call
    on the login side (not the job's own: it runs with SLURM_JOB_ID set), and those calls."""
    shims, calls = user.home / "shims", user.home / "calls"
    shims.mkdir(exist_ok=True)
    for command in ("sbatch", "squeue", "scancel", "scontrol", "sacct", "sinfo"):
        (shims / command).write_text(
            f'#!/bin/sh\n[ -n "$SLURM_JOB_ID" ] || echo {command} >> {calls}\nexec /usr/bin/{command} "$@"\n')
        (shims / command).chmod(0o755)
    user.owns(shims)
    calls.unlink(missing_ok=True)
    result = subprocess.run(user.command(str(BIN / "startnotebook"), *args), capture_output=True,
                            text=True, timeout=180, cwd=user.home,
                            env={**user.env, "PATH": f"{shims}:{user.env['PATH']}"})
    return result, calls.read_text().split() if calls.exists() else []


@pytest.fixture(scope="module")
def gpu_session(slurm, researcher):
    """A session of flavour gpu, launched through the counting wrappers."""
    result, calls = counted(researcher, "--profile", "slurm", "--name", "trained", "--flavor", "gpu",
                            "--notebook-timeout", "600")
    assert result.returncode == 0, result.stdout + result.stderr
    url, password = parse_banner(result.stdout)
    return url, password, job_of(researcher.home / "trained")["id"], calls


def test_a_gpu_flavour_gets_one_gpu_and_its_kernel_sees_it(slurm, researcher, gpu_session):
    url, password, job_id, calls = gpu_session
    job = slurm.scontrol_job(job_id)
    assert job["JobState"] == "RUNNING"
    assert job.get("TresPerNode") == "gres:gpu:1", job
    assert "gres/gpu=1" in job["TRES"], job["TRES"]
    # One sinfo for the check, then the sbatch: nothing else asked of the controller.
    assert calls == ["sinfo", "sbatch"], calls

    jupyter = JupyterSession(url, password)
    kernel = jupyter.connect(jupyter.start_kernel())
    seen = json.loads(kernel.execute(
        "import json, os; print(json.dumps({key: os.environ.get(key) for key in "
        "('CUDA_VISIBLE_DEVICES', 'SLURM_JOB_ID', 'USER')}))"))
    kernel.close()
    api = jupyter.http.get(f"{url}/startnotebook/api/session", timeout=10)
    api.raise_for_status()
    validate(api.json(), "session-api.schema.json")
    assert api.json()["flavour"]["gpus"] == 1
    assert seen["SLURM_JOB_ID"] == job_id and seen["USER"] == researcher.account.name
    assert seen["CUDA_VISIBLE_DEVICES"] in ("0", "1"), seen


def test_info_list_and_check_show_the_gpus(slurm, researcher, gpu_session):
    info = researcher.startnotebook("info", "trained", "--json")
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    validate(described, "info.schema.json")
    assert (described["gpus"], described["gpu_type"]) == (1, None)
    assert "gpu (1 cpu, 1024 MB, 1 GPU)" in researcher.startnotebook("info", "trained").stdout

    listed = researcher.startnotebook("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    validate(rows, "list.schema.json")
    assert {row["name"]: row["gpus"] for row in rows} == {"trained": 1}
    table = researcher.startnotebook("list").stdout.splitlines()
    assert "GPUS" in table[0].split() and max(map(len, table)) <= 100, table

    queued = slurm.queue()
    check = researcher.startnotebook("--profile", "slurm", "--check", "--name", "planned", "--flavor", "gpu")
    assert check.returncode == 0, check.stderr
    assert "--gres=gpu:1" in check.stdout
    gpus = next(line for line in check.stdout.splitlines() if line.strip().startswith("gpus "))
    assert gpus.split(":", 1)[1].strip() == ("1 GPU, in the kernel's CUDA_VISIBLE_DEVICES; the cluster "
                                              "has them: partition debug gpu:2 per node"), gpus
    small = researcher.startnotebook("--profile", "slurm", "--check", "--name", "planned")
    assert any(line.split() == ["gpus", ":", "none"] for line in small.stdout.splitlines()), small.stdout
    assert slurm.queue() == queued and not (researcher.home / "planned").exists()


def test_a_flavour_asking_for_more_gpus_than_a_node_has_is_refused_before_submitting(slurm, researcher):
    queued = slurm.queue()
    result, calls = counted(researcher, "--profile", "slurm", "--name", "greedy", "--flavor", "gpu3")
    assert result.returncode != 0
    assert result.stderr.startswith("startnotebook: error: flavour gpu3 asks for 3 GPUs")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "debug gpu:2" in result.stderr, result.stderr  # what the cluster has
    assert "successfully launched" not in result.stdout
    # One sinfo, no sbatch: nothing was submitted, no job of the user's is known to SLURM.
    assert calls == ["sinfo"], calls
    assert slurm.queue() == queued
    assert not (researcher.home / "greedy").exists()  # refused before the folder was made
    # --check says the same, in one line.
    check = researcher.startnotebook("--profile", "slurm", "--check", "--name", "greedy", "--flavor", "gpu3")
    assert check.returncode != 0 and check.stderr.count("\n") == 1 and "asks for 3 GPUs" in check.stderr


def test_usage_shows_the_gpu_hours_from_the_records_and_from_sacct(slurm, researcher, gpu_session):
    _, _, job_id, _ = gpu_session
    time.sleep(5)  # a few seconds of use
    stopped = researcher.startnotebook("stop", "trained")
    assert stopped.returncode == 0, stopped.stderr
    assert wait_until(lambda: job_id not in slurm.queue(), 30)
    reports = {}
    for source in ("records", "accounting"):
        # slurmdbd receives the job's end a moment after it ends.
        def report():
            result = researcher.startnotebook("usage", "--source", source, "--json")
            assert result.returncode == 0, result.stderr
            found = json.loads(result.stdout)
            launch = next(launch for launch in found["launches"] if launch["job_id"] == job_id)
            return found if launch["end"] else None
        reports[source] = wait_until(report, 30, 1)
        assert reports[source], source
        validate(reports[source], "usage.schema.json")
    for source, found in reports.items():
        launch = next(launch for launch in found["launches"] if launch["job_id"] == job_id)
        assert launch["gpus"] == 1, (source, launch)
        assert launch["gpu_hours"] > 0 and launch["gpu_hours"] == pytest.approx(launch["hours"], abs=1e-5)
        session = next(session for session in found["sessions"] if session["name"] == "trained")
        assert session["gpu_hours"] == pytest.approx(launch["gpu_hours"], abs=1e-5)
        assert found["total"]["gpu_hours"] >= session["gpu_hours"]
    # The accounting's figure is sacct's own: the job's AllocTRES counts its GPU.
    tres = subprocess.run(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", job_id,
                           "--format=AllocTRES"], env=slurm.env, capture_output=True, text=True).stdout
    assert "gres/gpu=1" in tres, tres
    records, sacct = (reports[source]["total"]["gpu_hours"] for source in ("records", "accounting"))
    assert abs(records - sacct) <= max(0.15 * sacct, 2 / 3600), (records, sacct)  # sacct counts whole seconds
    table = researcher.startnotebook("usage").stdout
    header = table.splitlines()[0]
    assert "GPU-HOURS" in header and "trained" in table, table


def test_snakemake_notebook_name_refuses_it_too_in_one_line_before_submitting(slurm, researcher):
    project = researcher.home / "project"
    project.mkdir()
    (project / "sessions.yaml").write_text(yaml.safe_dump({"sessions": {"greedier": {"flavor": "gpu3"}}}))
    researcher.owns(project)
    queued = slurm.queue()
    result = researcher.snakemake("notebook_greedier", "--profile", "slurm", "--snakefile",
                                  str(REPO / "workflow" / "Snakefile"), "--directory", str(project),
                                  "--configfile", str(project / "sessions.yaml"))
    assert result.returncode != 0
    said = [line for line in (result.stdout + result.stderr).splitlines() if "asks for 3 GPUs" in line]
    assert said and "flavour gpu3" in said[0] and "debug gpu:2" in said[0], result.stdout + result.stderr
    assert slurm.queue() == queued and not (researcher.home / "greedier").exists()


def test_the_local_backend_refuses_a_gpu_flavour_in_one_line(researcher):
    profile = researcher.home / ".config" / "snakemake" / "local-gpu"
    profile.mkdir(parents=True)
    (profile / "config.yaml").write_text("")
    (profile / "site.yaml").write_text(yaml.safe_dump({"backend": "local", "flavours": GPU_FLAVOURS}))
    researcher.owns(researcher.home / ".config")
    for check in ((), ("--check",)):
        result = researcher.startnotebook("--profile", "local-gpu", "--name", "here", "--flavor", "gpu", *check)
        assert result.returncode != 0
        assert result.stderr == ("startnotebook: error: flavour gpu asks for 1 GPU, which the local backend "
                                 "cannot give (it runs the server on this machine and allots nothing); use a "
                                 "profile with a batch system, e.g. --profile slurm\n"), result.stderr
        assert not (researcher.home / "here").exists()


def test_a_declared_sessions_notebooks_run_as_batch_jobs_with_its_gpus(slurm, researcher):
    """``startnotebook run`` of a GPU flavour's row: each notebook's job (through
    snakemake-executor-plugin-slurm) has the GPU too; a row asking for 3 fails before any job."""
    project = researcher.home / "gpu-project"
    researcher.run("mkdir", "-p", str(project))
    assert researcher.startnotebook("init", cwd=project).returncode == 0
    cell = "import os; print('devices', os.environ.get('CUDA_VISIBLE_DEVICES'))"
    (project / "sees.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": cell}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    (project / "config" / "sessions.tsv").write_text(
        "name\tflavor\tkernel_timeout\tnotebook_timeout\timage\tnotebooks\tparameters\n"
        "gpurun\tgpu\t600\t600\t\tsees.ipynb\t\ngreedyrun\tgpu3\t600\t600\t\tsees.ipynb\t\n")
    researcher.owns(project)
    queued = slurm.queue()
    refused = researcher.startnotebook("run", "greedyrun", "--project", str(project), "--profile", "slurm")
    assert refused.returncode != 0 and "flavour gpu3 asks for 3 GPUs" in refused.stderr, refused.stderr
    assert slurm.queue() == queued and not (researcher.home / "greedyrun").exists()

    result = researcher.startnotebook("run", "gpurun", "--project", str(project), "--profile", "slurm",
                                      timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    executed = researcher.home / "gpurun" / "executed"
    record = json.loads((executed / "sees.json").read_text())
    outputs = json.loads((executed / "sees.ipynb").read_text())["cells"][0]["outputs"]
    assert "".join("".join(output.get("text", "")) for output in outputs).split() in (["devices", "0"], ["devices", "1"])

    def tres() -> str:
        return subprocess.run(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", record["job_id"],
                               "--format=AllocTRES"], env=slurm.env, capture_output=True, text=True).stdout

    assert wait_until(lambda: "gres/gpu=1" in tres(), 20), tres()
