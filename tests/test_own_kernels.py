"""The user's own kernels in the session: a researcher made a venv with a package of theirs and
`python -m ipykernel install --user --name mine` (and one under the default name python3); the
session's launcher offers "mine", and "python3 (home)" beside the session's own python3, nothing
is copied into the session folder, and a kernels folder that others may change is skipped and
named by --check. Inside the Charliecloud image the kernel whose interpreter the container sees
runs there; one it cannot see is named by --check. As an ordinary user, with real Jupyter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import User, container_profile, slurm_test_cluster
from startnotebook.jobs.containers import PACKAGE_MOUNT
from jupyter_session import JupyterSession, parse_banner

#: Another user's kernels folder, open to everyone: nobody may decide what the session runs by it.
SHARED = Path("/tmp/sntest-shared-jupyter")


@pytest.fixture(scope="module")
def researcher():
    user = User.ordinary("ownk")
    venv = user.home / "myenv"
    for command in (["/usr/bin/python3", "-m", "venv", str(venv)],
                    [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "ipykernel"]):
        # Where the package index is reachable: the tests live in the cluster's hub, which has no way out.
        made = subprocess.run(slurm_test_cluster.outside(*user.command(*command)), env=user.env, cwd=user.home,
                              capture_output=True, text=True, timeout=600)
        assert made.returncode == 0, made.stdout + made.stderr
    site = user.run(str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(site.stdout.strip()) / "sntest_marker.py").write_text("WHERE = 'the researcher\\'s own venv'\n")
    user.owns(venv)
    for name in (["--name", "mine"], []):  # the second is named python3, ipykernel's default
        installed = user.run(str(venv / "bin/python"), "-m", "ipykernel", "install", "--user", *name)
        assert installed.returncode == 0, installed.stderr
    shutil.rmtree(SHARED, ignore_errors=True)
    (SHARED / "kernels" / "theirs").mkdir(parents=True)
    (SHARED / "kernels" / "theirs" / "kernel.json").write_text(json.dumps(
        {"argv": ["/usr/bin/python3", "-c", "print('not yours')"], "display_name": "theirs", "language": "python"}))
    for path in (SHARED, SHARED / "kernels", SHARED / "kernels" / "theirs"):
        path.chmod(0o777)
    user.env["JUPYTER_PATH"] = str(SHARED)
    try:
        yield user
    finally:
        user.account.remove()
        shutil.rmtree(SHARED, ignore_errors=True)


def specs_of(jupyter: JupyterSession) -> dict:
    return jupyter.api("GET", "kernelspecs").json()["kernelspecs"]


def run_in(jupyter: JupyterSession, kernel_name: str, code: str) -> str:
    kernel = jupyter.connect(jupyter.start_kernel(kernel_name))
    try:
        return kernel.execute(code)
    finally:
        kernel.close()


def test_your_kernels_appear_under_their_names_and_others_are_skipped(researcher):
    kernels = researcher.home / ".local/share/jupyter/kernels"
    check = researcher.startnotebook("--check", "--name", "own")
    assert check.returncode == 0, check.stderr
    assert re.search(rf"your kernels\s+: mine \({kernels}/mine\), python3 \({kernels}/python3\)", check.stdout), \
        check.stdout
    assert re.search(rf"skipped kernels\s+: {SHARED}/kernels: {SHARED}.* may be written by everyone", check.stdout), \
        check.stdout

    launched = researcher.startnotebook("--name", "own", "--notebook-timeout", "60")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    jupyter = JupyterSession(*parse_banner(launched.stdout))
    specs = specs_of(jupyter)
    assert {"python3", "mine", "python3-home"} <= set(specs) and "theirs" not in specs, sorted(specs)
    assert specs["python3-home"]["spec"]["display_name"] == "python3 (home)"
    assert specs["python3"]["spec"]["argv"][0] != str(researcher.home / "myenv/bin/python")  # the session's own
    seen = run_in(jupyter, "mine", "import sys, sntest_marker; print(sys.prefix, '|', sntest_marker.WHERE)")
    assert seen.strip() == f"{researcher.home / 'myenv'} | the researcher's own venv"
    assert "own venv" in run_in(jupyter, "python3-home", "import sntest_marker; print(sntest_marker.WHERE)")
    assert not [path for path in (researcher.home / "own").rglob("kernel.json")]  # nothing copied
    assert researcher.startnotebook("stop", "own").returncode == 0


def test_in_the_container_the_kernels_it_can_reach_run_there(researcher, notebook_image):
    container_profile(researcher)
    researcher.owns(researcher.home / ".config")
    unreachable = researcher.home / ".local/share/jupyter/kernels/elsewhere"
    unreachable.mkdir()
    (unreachable / "kernel.json").write_text(json.dumps(
        {"argv": ["/opt/sntest-python/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "elsewhere", "language": "python"}))
    researcher.owns(unreachable)
    try:
        check = researcher.startnotebook("--profile", "container", "--check", "--name", "boxed-own")
        assert check.returncode == 0, check.stderr
        assert re.search(r"skipped kernels\s+: \S+/elsewhere: not available in the container: its interpreter "
                         r"/opt/sntest-python/bin/python is in no folder bound into it", check.stdout), check.stdout
        launched = researcher.startnotebook("--profile", "container", "--name", "boxed-own", "--notebook-timeout",
                                            "60", timeout=300)
        assert launched.returncode == 0, launched.stdout + launched.stderr
        jupyter = JupyterSession(*parse_banner(launched.stdout))
        assert "mine" in specs_of(jupyter) and "elsewhere" not in specs_of(jupyter)
        # The package is bound at its mount point inside the image only (jobs/containers.py).
        seen = run_in(jupyter, "mine", "import os, sntest_marker; print(os.path.isdir(%r), sntest_marker.WHERE)"
                      % PACKAGE_MOUNT)
        assert seen.strip() == "True the researcher's own venv", seen
        assert researcher.startnotebook("stop", "boxed-own").returncode == 0
    finally:
        shutil.rmtree(unreachable)
