"""The site's environment modules in a session: Debian's Lmod and a small modulefile tree of the
test's own, a flavour (or a project's row) that loads a module, the server and its kernels in the
loaded environment; an unknown module refused before anything is submitted; modules with a
container refused in one line. As ordinary users, on the test cluster and on this machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import User, cluster_user
from jupyter_session import JupyterSession, parse_banner

#: A module that sets a variable and puts a command of its own first on PATH.
MODULEFILE = """setenv("SNTEST_MODULE", "hello 1.0 loaded")
prepend_path("PATH", "{bin}")
"""
FLAVOURS = {
    "modular": {"cpus_per_task": 1, "mem_mb": 512, "runtime": 20, "modules": ["hello/1.0"]},
    "misspelt": {"cpus_per_task": 1, "mem_mb": 512, "runtime": 20, "modules": ["hello/1.0", "nosuch/9"]},
}
SEEN_INSIDE = ("import json, os, shutil; print(json.dumps({'variable': os.environ.get('SNTEST_MODULE'), "
               "'command': shutil.which('hello-from-module'), 'loaded': os.environ.get('LOADEDMODULES')}))")


@pytest.fixture(scope="module")
def module_tree():
    """A site's modulefile tree every user may read (not under pytest's 0700 folders)."""
    root = Path(tempfile.mkdtemp(prefix="sntest-modules-"))
    root.chmod(0o755)
    (root / "bin").mkdir()
    command = root / "bin" / "hello-from-module"
    command.write_text("#!/bin/sh\necho hello\n")
    command.chmod(0o755)
    (root / "modulefiles" / "hello").mkdir(parents=True)
    (root / "modulefiles" / "hello" / "1.0.lua").write_text(MODULEFILE.format(bin=root / "bin"))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path == command else 0o644)
    yield root / "modulefiles"
    shutil.rmtree(root)


def one_line(result) -> str:
    assert result.returncode != 0, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def inside(result) -> dict:
    """What a kernel of the launched session sees of the modules."""
    assert result.returncode == 0, result.stdout + result.stderr
    jupyter = JupyterSession(*parse_banner(result.stdout))
    kernel = jupyter.connect(jupyter.start_kernel())
    try:
        return json.loads(kernel.execute(SEEN_INSIDE))
    finally:
        kernel.close()


@pytest.fixture(scope="module")
def researcher(slurm, module_tree):
    with cluster_user(slurm, "modules", flavours=FLAVOURS) as user:
        user.env["MODULEPATH"] = str(module_tree)
        yield user


def test_a_flavours_module_is_loaded_for_the_server_and_its_kernels(slurm, researcher):
    check = researcher.startnotebook("--profile", "slurm", "--name", "modular", "--flavor", "modular", "--check")
    assert check.returncode == 0, check.stderr
    assert re.search(r"modules\s+: hello/1\.0 \(module load in the job, after /usr/share/lmod/lmod/init/bash\)",
                     check.stdout), check.stdout
    launched = researcher.startnotebook("--profile", "slurm", "--name", "modular", "--flavor", "modular",
                                        "--notebook-timeout", "60")
    seen = inside(launched)
    assert seen["variable"] == "hello 1.0 loaded"
    assert seen["command"] == str(Path(researcher.env["MODULEPATH"]).parent / "bin" / "hello-from-module")
    assert "hello/1.0" in (seen["loaded"] or "")
    record = sorted((researcher.home / "modular/.startnotebook/launches").glob("*/launch.json"))[-1]
    assert json.loads(record.read_text())["modules"] == ["hello/1.0"]
    assert researcher.startnotebook("stop", "modular").returncode == 0


def test_a_module_that_does_not_exist_is_refused_before_anything_is_submitted(slurm, researcher):
    for args in (["--check"], []):
        refused = researcher.startnotebook("--profile", "slurm", "--name", "misspelt", "--flavor", "misspelt",
                                           *args)
        assert "module nosuch/9 cannot be loaded" in one_line(refused)
    named = subprocess.run(["squeue", "-h", "-n", "misspelt", "-o", "%i"], env=slurm.env, capture_output=True,
                           text=True, check=True)
    assert named.stdout.strip() == "", named.stdout  # nothing was submitted
    assert not list((researcher.home / "misspelt").rglob("launch.json"))


def test_a_projects_row_loads_its_module_on_this_machine(module_tree):
    user = User.ordinary("sntest-modrow")
    try:
        user.env["MODULEPATH"] = str(module_tree)
        project = user.home / "project"
        (project / "config").mkdir(parents=True)
        (project / "config" / "config.yaml").write_text("sessions_sheet: config/sessions.tsv\n")
        (project / "config" / "sessions.tsv").write_text("name\tmodules\nrowmod\thello/1.0\n")
        user.owns(project)
        seen = inside(user.startnotebook("--name", "rowmod", "--notebook-timeout", "60", cwd=project))
        assert seen["variable"] == "hello 1.0 loaded"
        assert user.startnotebook("stop", "rowmod").returncode == 0
    finally:
        user.account.remove()


def test_modules_and_a_container_are_refused_in_one_line(module_tree):
    user = User.ordinary("sntest-modbox")
    try:
        profile = user.home / ".config" / "snakemake" / "boxed"
        profile.mkdir(parents=True)
        (profile / "config.yaml").write_text("cores: 1\n")
        (profile / "site.yaml").write_text(yaml.safe_dump(
            {"backend": "local", "modules": ["hello/1.0"], "container": {"runtime": "charliecloud"}}))
        user.owns(user.home / ".config")
        for args in (["--check"], []):
            refused = user.startnotebook("--profile", "boxed", "--name", "boxed", *args)
            assert "cannot be loaded in a container (charliecloud" in one_line(refused)
        assert not list((user.home / "boxed").rglob("launch.json"))
    finally:
        user.account.remove()
