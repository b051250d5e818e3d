"""A session's folder is trusted by its whole path: another user who could write a folder on it
(a /tmp/$USER they made before the user's first launch) never gets code into the user's kernel,
nobody can move a folder under a running session, the job checks the path again when it starts,
and the user can always stop their own session. A project sheet that others may change is refused
in one line, not silently skipped."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BIN, User, latest_launch, processes_mentioning, wait_until
from jupyter_session import JupyterSession, parse_banner

#: A site that keeps sessions in /tmp/$USER, as many HPC sites keep them in /scratch/$USER.
PER_USER_ROOT = "/tmp/trtest-$USER"
#: A scratch folder every user may write to, root's, with the sticky bit (as /scratch is).
SCRATCH = Path("/tmp/trtest-scratch")


def local_site(user: User, sessions_root: str) -> None:
    """A profile "site" of the user's: the local backend, sessions under ``sessions_root``."""
    profile = user.home / ".config" / "snakemake" / "site"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "config.yaml").write_text("cores: 1\n")
    (profile / "site.yaml").write_text(yaml.safe_dump({"backend": "local", "sessions_root": sessions_root}))
    user.owns(user.home / ".config")


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.fixture
def alice_and_bob():
    alice, bob = User.ordinary("tr-alice"), User.ordinary("tr-bob")
    own_root = Path(f"/tmp/trtest-{alice.account.name}")
    folders = [own_root, SCRATCH, Path("/tmp/trtest-moved"), Path(f"/tmp/trtest-project-{bob.account.name}")]
    for folder in folders:
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    try:
        yield alice, bob
    finally:
        alice.account.remove()
        bob.account.remove()
        for folder in folders:
            subprocess.run(["rm", "-rf", str(folder)], check=True)


def test_a_sessions_root_another_user_made_first_is_refused_naming_its_owner(alice_and_bob):
    alice, bob = alice_and_bob
    local_site(alice, PER_USER_ROOT)
    root = Path(f"/tmp/trtest-{alice.account.name}")
    # bob makes alice's /tmp/$USER before her first launch, open to all, with the sticky bit: he
    # owns it, so the sticky bit would not keep him from moving what she puts in it.
    assert bob.run("mkdir", "-m", "1777", str(root)).returncode == 0
    for args in (["--check"], []):
        refused = one_line(alice.startnotebook("--profile", "site", "--name", "r1", *args))
        assert f"sessions root {root} belongs to {bob.account.name}" in refused
    assert list(root.iterdir()) == []  # nothing of alice's went there
    assert processes_mentioning(str(root)) == []

    # A root alice makes herself is hers alone; nobody else can move what is in it.
    subprocess.run(["rm", "-rf", str(root)], check=True)
    launched = alice.startnotebook("--profile", "site", "--name", "r1", "--notebook-timeout", "60")
    assert launched.returncode == 0, launched.stderr
    info = root.stat()
    assert info.st_uid == alice.account.uid and stat.S_IMODE(info.st_mode) == 0o700
    moved = bob.run("mv", str(root), "/tmp/trtest-moved")
    assert moved.returncode != 0 and "Operation not permitted" in moved.stderr  # /tmp is sticky
    assert bob.run("ls", str(root)).returncode != 0
    assert alice.startnotebook("stop", "r1", "--profile", "site").returncode == 0


def test_nobody_can_move_a_folder_under_a_running_session_and_the_user_can_always_stop_it(alice_and_bob):
    alice, bob = alice_and_bob
    SCRATCH.mkdir(mode=0o755)
    SCRATCH.chmod(0o1777)
    local_site(alice, str(SCRATCH))
    launched = alice.startnotebook("--profile", "site", "--name", "r1", "--notebook-timeout", "60")
    assert launched.returncode == 0, launched.stderr
    own = SCRATCH / alice.account.name
    folder = own / "r1"

    # The attack of issue 15: move alice's folder aside, put a tree of bob's with an IPython
    # startup file in its place. The sticky bit of a root-owned scratch forbids the move; alice's
    # folders forbid the rest.
    moved = bob.run("mv", str(own), str(SCRATCH / "moved"))
    assert moved.returncode != 0 and "Operation not permitted" in moved.stderr
    planted = bob.run("mkdir", "-p", str(folder / ".ipython" / "profile_default" / "startup"))
    assert planted.returncode != 0 and "Permission denied" in planted.stderr
    jupyter = JupyterSession(*parse_banner(launched.stdout))
    kernel = jupyter.connect(jupyter.start_kernel())
    assert kernel.execute("get_ipython().profile_dir.location") == repr(str(folder / ".ipython" / "profile_default"))
    assert kernel.execute("import os; os.getcwd()") == repr(str(folder))

    # alice opens her folder to her group: the path is no longer trusted. No launch goes there,
    # but what runs there is still hers to see and to stop.
    assert alice.run("chmod", "g+w", str(own)).returncode == 0
    refused = one_line(alice.startnotebook("--profile", "site", "--name", "r2"))
    assert f"sessions folder {own} (owner {alice.account.name}) may be written by the group" in refused
    listed = alice.startnotebook("list", "--profile", "site")
    assert listed.returncode == 0 and "r1" in listed.stdout and "running" in listed.stdout, listed
    stopped = alice.startnotebook("stop", "r1", "--profile", "site")
    assert stopped.returncode == 0 and "Stopped r1" in stopped.stdout, stopped.stderr
    assert wait_until(lambda: (latest_launch(folder) / "end.json").exists(), 20)
    assert wait_until(lambda: processes_mentioning(str(folder)) == [], 20)
    assert not (own / "r2").exists()


def test_the_jobs_check_names_the_first_folder_others_may_change(tmp_path):
    """What the job runs on its node before the server starts (job.sh), as the user would."""

    def job_check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "python"), "-I", "-m", "startnotebook.sessions.folders", str(path)],
                              capture_output=True, text=True, timeout=30)

    session = tmp_path / "area" / "notebooks" / "s1"
    session.mkdir(parents=True)
    assert job_check(session).returncode == 0 and job_check(session).stdout == ""
    (tmp_path / "area").chmod(0o775)
    opened = job_check(session)
    assert opened.returncode == 1 and opened.stdout.count("\n") == 1
    assert f"{tmp_path / 'area'} (owner root) may be written by the group root and has no sticky bit" in opened.stdout
    (tmp_path / "area").chmod(0o1777)  # sticky, root's: only an entry's owner may move it
    assert job_check(session).returncode == 0
    (tmp_path / "area").chmod(0o755)
    # A link is judged by where it leads: into a trusted folder it is fine, into one that others
    # may change it is not (the link's own folder is trusted: only root could change the link).
    (tmp_path / "link").symlink_to("area/notebooks")
    assert job_check(tmp_path / "link" / "s1").returncode == 0
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o777)
    (shared / "s2").mkdir()
    (tmp_path / "link-to-shared").symlink_to(shared / "s2")
    led = job_check(tmp_path / "link-to-shared")
    assert led.returncode == 1 and f"{shared} (owner root) may be written by everyone" in led.stdout
    gone = job_check(tmp_path / "missing")
    assert gone.returncode == 1 and "does not exist" in gone.stdout


@pytest.mark.slurm
def test_a_path_opened_to_others_before_the_job_starts_keeps_its_server_from_starting(slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    user.slurm_profile()
    blocker = subprocess.run(["sbatch", "--parsable", "--nodes=2", "--exclusive", "--output=/dev/null",
                              "--wrap=sleep 300"], env=slurm.env, capture_output=True, text=True, check=True)
    launch = user.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "opened")
    folder = user.home / "opened"
    try:
        assert wait_until(lambda: any(folder.glob(".startnotebook/launches/*/job.json")), 60)
        # While the job waits, the home holding the session folder becomes writable by its group.
        user.home.chmod(0o770)
        subprocess.run(["scancel", blocker.stdout.strip()], env=slurm.env, check=True)
        _, stderr = launch.communicate(timeout=120)
    finally:
        subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env)
        user.home.chmod(0o700)
    assert launch.returncode != 0
    assert "the path to the session folder is no longer safe" in stderr
    assert f"{user.home} (owner root) may be written by the group root" in stderr  # from the log
    log = (folder / ".startnotebook" / "logs" / "server.log").read_text()
    assert log.count("refusing to start the server") == 1
    assert wait_until(lambda: not slurm.queue(), 15)


def test_a_project_sheet_others_may_change_is_refused_in_one_line(alice_and_bob, tmp_path):
    alice, bob = alice_and_bob
    project = alice.home / "project"
    assert alice.run("mkdir", str(project)).returncode == 0
    assert alice.startnotebook("init", cwd=project).returncode == 0
    sheet = project / "config" / "sessions.tsv"
    assert alice.run("sh", "-c", f"printf 'row1\\tsmall\\t60\\t77\\n' >> {sheet}").returncode == 0
    checked = alice.startnotebook("--check", "--name", "row1", cwd=project)
    assert checked.returncode == 0 and "notebook timeout : 77 s" in checked.stdout, checked.stdout + checked.stderr

    # alice's umask (or a colleague) opened the sheet to her group: the row is not hers alone.
    assert alice.run("chmod", "g+w", str(sheet)).returncode == 0
    refused = one_line(alice.startnotebook("--check", "--name", "row1", cwd=project))
    assert f"sessions sheet {sheet} may be written by the group {alice.account.name}" in refused
    under_snakemake = alice.snakemake("-n", "notebook_row1", cwd=project)
    assert under_snakemake.returncode != 0
    assert f"sessions sheet {sheet} may be written by the group" in under_snakemake.stdout + under_snakemake.stderr

    # bob's project, where alice happens to stand: its row is not hers to launch.
    theirs = Path(f"/tmp/trtest-project-{bob.account.name}")
    assert bob.run("mkdir", "-m", "755", str(theirs)).returncode == 0
    assert bob.startnotebook("init", cwd=theirs).returncode == 0
    refused = one_line(alice.startnotebook("--check", "--name", "my-analysis", cwd=theirs))
    assert f"project config {theirs / 'config' / 'config.yaml'} belongs to {bob.account.name}" in refused
    elsewhere = alice.startnotebook("--check", "--name", "not-declared", cwd=theirs)
    assert elsewhere.returncode == 0, elsewhere.stderr  # a name bob's project does not declare
