"""Small promises a newcomer relies on: one source for each thing, one wording for each idea."""

from __future__ import annotations

import re

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from startnotebook.jobs import containers
from startnotebook.sessions.session import Session
from startnotebook.settings import config

from conftest import BIN, REPO, wait_until


def test_every_container_runtime_says_how_to_run_a_command_inside_it():
    # A runtime that forgot wrap() cannot even be made: the interface says it must have one.
    assert containers.Runtime.__abstractmethods__ == {"wrap"}
    for runtime in containers.RUNTIMES.values():
        assert "wrap" in type(runtime).__dict__, f"{runtime.name} has no wrap of its own"
    run = containers.ContainerRun("/images/nb", ("/home",), "/home/ada/exp", {"HOME": "/home/ada/exp"})
    for runtime in containers.RUNTIMES.values():
        command = runtime.wrap(run, ["python3", "-V"])
        assert command[0] == runtime.executable and command[-2:] == ["python3", "-V"]

    class Forgetful(containers.Runtime):
        name, executable = "forgetful", "true"

    with pytest.raises(TypeError, match="wrap"):
        Forgetful()


def test_init_writes_the_workflows_own_profile_and_names_the_snakemake_that_can_run_it(user):
    """A newcomer who installed with `make demo` has startnotebook and its Snakemake in .venv/bin,
    which is not on PATH: the hint names the Snakemake that can load the workflow, by its path."""
    user.env["PATH"] = "/usr/bin:/bin"
    result = user.startnotebook("init", "my-project")
    assert result.returncode == 0, result.stderr
    written = user.home / "my-project/workflow/profiles/default/config.yaml"
    assert written.read_text() == (REPO / "workflow/profiles/default/config.yaml").read_text()
    assert f"  {BIN / 'snakemake'} --profile slurm notebook_my-analysis\n" in result.stdout
    assert f"  {BIN / 'snakemake'} notebook_my-analysis\n" in result.stdout
    assert f"  {BIN / 'startnotebook'} --name my-analysis\n" in result.stdout
    assert "not on your PATH" in result.stdout

    user.env["PATH"] = f"{BIN}:/usr/bin:/bin"  # an activated environment: the names alone do
    result = user.startnotebook("init", "other-project")
    assert "  snakemake --profile slurm notebook_my-analysis\n" in result.stdout
    assert str(BIN) not in result.stdout and "not on your PATH" not in result.stdout


def test_the_image_folders_default_is_the_site_defaults_file_alone():
    shipped = yaml.safe_load((REPO / "config/config.yaml").read_text())["container"]["image_dir"]
    assert config.load_site(None).container.image_dir == Path(shipped).expanduser()
    copies = [path for path in (REPO / "src").rglob("*.py") if shipped in path.read_text()]
    assert copies == [], f"{shipped} is written again in {copies}: config/config.yaml is its one place"


def test_looking_a_session_up_makes_nothing_creating_it_makes_its_private_folder(tmp_path):
    profile = tmp_path / "site-profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("")
    (profile / "site.yaml").write_text(f"sessions_root: {tmp_path / 'notebooks'}\n")
    site = config.load_site(profile)
    found = Session.find(site, "exp")
    assert found.folder == tmp_path / "notebooks/exp" and not found.exists
    assert not (tmp_path / "notebooks").exists(), "a lookup made the sessions root"
    made = Session.create(site, "exp")
    assert made.folder == found.folder and made.inode == made.folder.stat().st_ino
    assert made.folder.stat().st_mode & 0o777 == 0o700


def test_a_local_session_says_one_thing_of_its_profile_resources_and_wall_time(user):
    """On this machine too a session ends at its wall time: --check shows the limit and the clean
    end before it, info and list the time left, in the words of JupyterLab's status bar."""
    check = user.startnotebook("--check", "--name", "here")
    assert "wall time        : 8:00:00\n" in check.stdout, check.stdout
    assert ("clock            : warns 10:00 and 2:00 before the wall time, 2:00 before the notebook "
            "timeout; saves open documents and ends the session 1:00 before the wall time") in check.stdout
    assert "profile          : none (this machine)" in check.stdout
    launched = user.startnotebook("--name", "here", "--notebook-timeout", "60")
    assert launched.returncode == 0, launched.stderr
    try:
        info = user.startnotebook("info", "here").stdout
        assert re.search(r"wall time    : 7:5\d left, ends at \d\d:\d\d \(wall time\)", info), info
        assert re.search(r"notebook     : stops in [01]:\d\d unless a kernel starts", info), info
        assert "profile      : none (this machine)" in info and "small (1 cpu, 8192 MB)" in info
        listed = user.startnotebook("list").stdout.splitlines()
        header, row = listed[0], listed[1]
        assert row[header.index("LEFT"):].startswith("7:5"), listed
    finally:
        assert user.startnotebook("stop", "here").returncode == 0


def _processes_titled(prefix: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(prefix):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slurm
def test_the_test_cluster_ends_its_own_job_steps_and_no_other_slurmstepd(slurm):
    """Several developers share a machine: tearing one test cluster down must not end the job
    steps of another (`pkill -f slurmstepd` did)."""
    sleeper = f"{sys.executable} -c 'import time; time.sleep(60)'"
    strangers = [subprocess.Popen(["bash", "-c", f"exec -a slurmstepd {sleeper} {argument}"])
                 for argument in ("[4711.batch]", f"{slurm.state}-other/slurm.conf")]
    submitted = subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--chdir=/tmp",
                                "--wrap=sleep 60"], env=slurm.env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    try:
        steps = wait_until(lambda: _processes_titled(f"slurmstepd: [{job_id}.".encode()), 10, 0.1)
        assert steps, f"no slurmstepd for job {job_id}"
        own = slurm.own_processes()
        assert set(steps) <= set(own)
        assert not {stranger.pid for stranger in strangers} & set(own)
    finally:
        subprocess.run(["scancel", job_id], env=slurm.env)
        assert wait_until(lambda: job_id not in slurm.queue(), 15, 0.2), f"job {job_id} not cancelled"
        for stranger in strangers:
            stranger.kill()
            stranger.wait()


def test_a_project_made_under_a_group_writable_umask_is_the_users_alone(user):
    """Clusters often give users umask 002: init's files must not come out group-writable, or the
    project's own sheet is refused as one others may change."""
    made = user.run("bash", "-c", f"umask 002 && {BIN / 'startnotebook'} init umask-project")
    assert made.returncode == 0, made.stderr
    project = user.home / "umask-project"
    for path in [project, project / "config", project / "config/sessions.tsv", project / "workflow/Snakefile"]:
        assert path.stat().st_mode & 0o022 == 0, f"{path} is {oct(path.stat().st_mode)}"
    check = user.startnotebook("--check", "--name", "my-analysis", cwd=project)
    assert check.returncode == 0, check.stderr
