"""The notebook runs in a container (Charliecloud, for real) on an image the workflow builds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMAGE_DIR, PROJECT, REPO, User, container_profile, job_of, snakemake_build, wait_until
from startnotebook.jobs.image import image_path
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.container
CODE = """
import json, os, sys, numpy, pandas, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot(numpy.arange(10), numpy.arange(10) ** 2)
plt.savefig("plot.png")
open("from-the-notebook.txt", "w").write("written inside")
print(json.dumps({"prefix": sys.prefix, "os": open("/etc/os-release").read(),
                  "project": open("%s/shared.csv").read(), "uid": os.getuid(),
                  "home": os.environ["HOME"], "cwd": os.getcwd()}))
""" % PROJECT


def test_the_kernel_runs_in_the_container_with_the_session_folder_as_home(notebook_image, user):
    container_profile(user)
    result = user.startnotebook("--profile", "container", "--name", "boxed")
    assert result.returncode == 0, result.stdout + result.stderr
    jupyter = JupyterSession(*parse_banner(result.stdout))
    kernel = jupyter.connect(jupyter.start_kernel())
    facts = json.loads(kernel.execute(CODE))
    folder = user.home / "boxed"
    assert facts["prefix"] == "/usr" != sys.prefix
    assert facts["home"] == facts["cwd"] == str(folder)
    assert facts["project"].startswith("site,value")
    assert (folder / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "from-the-notebook.txt").stat().st_uid == facts["uid"]
    # The image's JupyterLab serves the session's clock (the package's extension, bound in).
    lab = jupyter.http.get(jupyter.url + "/lab", timeout=10).text
    assert '"name": "startnotebook"' in lab or '"name":"startnotebook"' in lab, "no clock extension in /lab"
    assert jupyter.http.get(jupyter.url + "/startnotebook/api/session", timeout=10).status_code == 200


def test_pip_install_user_lands_in_the_session_and_outlives_it(notebook_image, user):
    container_profile(user)
    package = user.home / "kept" / "src" / "mytool"
    package.mkdir(parents=True)
    (package / "mytool.py").write_text("ANSWER = 42\n")
    (package / "setup.py").write_text("from setuptools import setup\nsetup(name='mytool', version='1', py_modules=['mytool'])\n")
    first = user.startnotebook("--profile", "container", "--name", "kept", "--notebook-timeout", "60")
    assert first.returncode == 0, first.stdout + first.stderr
    jupyter = JupyterSession(*parse_banner(first.stdout))
    kernel = jupyter.connect(jupyter.start_kernel())
    kernel.execute("import subprocess, sys; print(subprocess.run([sys.executable, '-m', 'pip', 'install', "
                   "'--user', '--no-index', '--no-build-isolation', 'src/mytool'], capture_output=True, text=True).stdout)")
    assert list((user.home / "kept" / ".local" / "lib").glob("python3*/site-packages/mytool.py"))
    # The session ends (as its notebook timeout would end it); the next one starts afresh.
    job = job_of(user.home / "kept")
    os.killpg(int(job["id"]), signal.SIGTERM)
    assert wait_until(lambda: not Path(f"/proc/{job['id']}").exists(), 30)

    second = user.startnotebook("--profile", "container", "--name", "kept")
    assert second.returncode == 0, second.stdout + second.stderr
    jupyter = JupyterSession(*parse_banner(second.stdout))
    kernel = jupyter.connect(jupyter.start_kernel())
    assert kernel.execute("import mytool; mytool.ANSWER") == "42"


def test_check_shows_the_image_its_state_and_the_container_command(notebook_image, user):
    container_profile(user)
    result = user.startnotebook("--profile", "container", "--check", "--name", "look")
    assert result.returncode == 0, result.stderr
    assert f"{notebook_image} (built;" in result.stdout
    command = next(line for line in result.stdout.splitlines() if "ch-run" in line)
    for part in ("--bind=/tmp", "--bind=/srv", f"--cd={user.home / 'look'}", str(notebook_image),
                 "-- /usr/bin/python3 -P -m startnotebook.server"):
        assert part in command, part
    assert "--bind=" in command and ":/opt/startnotebook/share/jupyter/labextensions/startnotebook" in command
    assert "clock            : warns 10:00 and 2:00 before the wall time" in result.stdout, result.stdout
    assert list(user.home.glob("look")) == []


def test_check_says_when_an_image_cannot_show_the_clock(tmp_path):
    from startnotebook.jobs.containers import LABEXTENSION_MOUNT, labextension_problem

    image = tmp_path / "site-image"
    (image / "usr/lib/python3/dist-packages/jupyterlab-3.6.7.dist-info").mkdir(parents=True)
    assert "no folder /opt/startnotebook/share/jupyter/labextensions/startnotebook" in labextension_problem(str(image))
    (image / LABEXTENSION_MOUNT.lstrip("/")).mkdir(parents=True)
    assert labextension_problem(str(image)) == "the image's JupyterLab is 3.6.7, not 4"
    (image / "usr/lib/python3/dist-packages/jupyterlab-3.6.7.dist-info").rename(
        image / "usr/lib/python3/dist-packages/jupyterlab-4.6.1.dist-info")
    assert labextension_problem(str(image)) is None
    assert labextension_problem(str(tmp_path / "image.sif")) is None  # a file: not judged


def test_a_changed_recipe_is_a_new_image_to_build(notebook_image, tmp_path):
    from startnotebook.jobs.image import image_state

    recipe = tmp_path / "recipe"
    shutil.copytree(REPO / "envs" / "notebook", recipe)
    assert image_path(IMAGE_DIR, recipe) == notebook_image
    assert image_state(IMAGE_DIR, recipe) == "built"
    with open(recipe / "requirements.txt", "a") as stream:
        stream.write("seaborn\n")
    assert image_path(IMAGE_DIR, recipe) != notebook_image
    assert image_state(IMAGE_DIR, recipe) == "stale"


def test_an_unchanged_recipe_builds_nothing(notebook_image, tmp_path):
    result = subprocess.run(snakemake_build(tmp_path, notebook_image, "--dry-run"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_missing_runtime_is_named_and_nothing_starts(notebook_image, user):
    container_profile(user, container={"runtime": "apptainer", "image": str(notebook_image)})
    result = user.startnotebook("--profile", "container", "--name", "noruntime")
    assert result.returncode != 0
    assert "apptainer is not installed here" in result.stderr
    assert result.stderr.count("\n") == 1
    assert user.server_processes() == []


def test_a_missing_prebuilt_image_is_named_and_nothing_starts(user):
    container_profile(user, container={"image": "/nonexistent/notebook.sif"})
    result = user.startnotebook("--profile", "container", "--name", "noimage")
    assert result.returncode != 0
    assert "container image /nonexistent/notebook.sif does not exist" in result.stderr
    assert user.server_processes() == []


def test_a_broken_image_fails_with_the_runtimes_message(user, tmp_path):
    broken = tmp_path / "broken-image"
    (broken / "usr/bin").mkdir(parents=True)
    container_profile(user, container={"image": str(broken)})
    result = user.startnotebook("--profile", "container", "--name", "broken")
    assert result.returncode != 0
    assert "ended before its URL was known" in result.stderr
    assert "ch-run" in result.stderr
    assert user.server_processes() == []


def test_the_apptainer_command_maps_the_same_settings():
    from startnotebook.jobs import job
    from startnotebook.settings.config import Flavour
    from startnotebook.sessions.records import LaunchRecord

    record = LaunchRecord(Path("/home/ada/exp/.startnotebook/launches/20261128T120000Z-abcdef"))
    spec = job.JobSpec(
        name="exp", folder=Path("/home/ada/exp"), record=record,
        flavour=Flavour("small", 1, 8192, 480),
        container=job.Container("apptainer", "/images/notebook.sif", "/usr/bin/python3",
                                ("/cvmfs", "/nonexistent-project")),
        server_log=Path("/home/ada/exp/.startnotebook/logs/server.log"),
    )
    command = job.server_command(spec)
    assert command[:8] == ["apptainer", "exec", "--cleanenv", "--home", "/home/ada/exp",
                           "--pwd", "/home/ada/exp", "--bind"]
    assert "/home" in command and "/nonexistent-project" not in command
    assert "--env" in command and "HOME=/home/ada/exp" in command
    image = command.index("/images/notebook.sif")
    assert command[image + 1:image + 5] == ["/usr/bin/python3", "-P", "-m", "startnotebook.server"]
    assert command[-1] == f"{record.folder}/jupyter_config.json"
    # The clock's extension, where the image's JupyterLab looks (an image file gets every bind).
    assert any(part.endswith(":/opt/startnotebook/share/jupyter/labextensions/startnotebook") for part in command)
    assert "JUPYTER_PATH=/opt/startnotebook/share/jupyter" in command


@pytest.mark.slurm
def test_a_notebook_on_the_cluster_runs_in_the_container(notebook_image, slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    user.slurm_profile(container={"runtime": "charliecloud", "image": str(notebook_image),
                                  "binds": ["/srv"]})
    try:
        result = user.startnotebook("--profile", "slurm", "--name", "boxed-job")
        assert result.returncode == 0, result.stdout + result.stderr
        jupyter = JupyterSession(*parse_banner(result.stdout))
        kernel = jupyter.connect(jupyter.start_kernel())
        facts = json.loads(kernel.execute(CODE))
        assert facts["prefix"] == "/usr" != sys.prefix
        assert facts["home"] == str(user.home / "boxed-job")
        assert facts["project"].startswith("site,value")
        assert kernel.execute("import os, socket; (socket.gethostname(), 'SLURM_JOB_ID' in os.environ)") \
            in ("('c1', True)", "('c2', True)")
        assert (user.home / "boxed-job" / "plot.png").exists()
    finally:
        subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env, check=False)
