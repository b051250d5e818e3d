"""The product's main job: notebooks as SLURM jobs on a real cluster (Debian's slurm-wlm + munge).

The cluster (tests/cluster/) has two compute nodes c1 and c2, each a network namespace with its own
address; the tests run on the submit side (the hub) and reach the nodes over that network.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import job_of, BIN, REPO, User, wait_until
from jupyter_session import JupyterSession, parse_banner

pytestmark = pytest.mark.slurm
NODE_ADDRESSES = {"10.250.77.11": "c1", "10.250.77.12": "c2"}


@pytest.fixture
def researcher(slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    yield user
    subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env, check=False)
    wait_until(lambda: not slurm.queue(), 20)


def job_id_of(user: User, name: str) -> str:
    return job_of(user.home / name)["id"]


def launch(user: User, *args: str) -> tuple[str, str, str]:
    result = user.startnotebook("--profile", "slurm", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    url, password = parse_banner(result.stdout)
    name = args[args.index("--name") + 1]
    return url, password, job_id_of(user, name)


def facts_inside(url: str, password: str) -> dict:
    jupyter = JupyterSession(url, password)
    kernel = jupyter.connect(jupyter.start_kernel())
    facts = kernel.execute(
        "import json, os, socket; print(json.dumps({'host': socket.gethostname(), "
        "'job': os.environ.get('SLURM_JOB_ID'), 'cpus': os.environ.get('SLURM_CPUS_PER_TASK'), "
        "'cwd': os.getcwd(), 'home': os.environ['HOME']}))"
    )
    kernel.close()
    return json.loads(facts)


@pytest.mark.parametrize("flavor, cpus, mem_mb", [("small", 1, 8192), ("medium", 4, 32768)])
def test_a_notebook_runs_as_a_job_with_the_flavours_resources(slurm, researcher, flavor, cpus, mem_mb):
    name = f"nb-{flavor}"
    url, password, job_id = launch(researcher, "--name", name, "--flavor", flavor)

    job = slurm.scontrol_job(job_id)
    assert job["JobName"] == name
    assert job["JobState"] == "RUNNING"
    assert job["NumCPUs"] == str(cpus)
    assert f"mem={mem_mb // 1024}G" in job["TRES"]
    assert job["TimeLimit"] == "08:00:00"

    host = url.split("//")[1].split(":")[0]
    assert host in NODE_ADDRESSES, url
    facts = facts_inside(url, password)
    assert facts["host"] == NODE_ADDRESSES[host] == job["NodeList"]
    assert facts["job"] == job_id
    assert facts["cpus"] == str(cpus)
    assert facts["cwd"] == facts["home"] == str(researcher.home / name)


def test_the_session_ends_by_itself_and_releases_the_allocation(slurm, researcher):
    url, password, job_id = launch(researcher, "--name", "brief", "--kernel-timeout", "3",
                                   "--notebook-timeout", "15")
    node = slurm.scontrol_job(job_id)["NodeList"]
    assert slurm.idle_cpus(node) == slurm.cpus(node) - 1
    jupyter = JupyterSession(url, password)
    jupyter.save_notebook("kept.ipynb", "1 + 1")
    tab = jupyter.connect(jupyter.start_kernel())
    assert tab.execute("1 + 1") == "2"

    assert wait_until(lambda: jupyter.kernels() == [], 3 + 15), "kernel not culled"
    assert wait_until(lambda: job_id not in slurm.queue(), 15 + 15 + 5), "job still in squeue"
    assert wait_until(lambda: slurm.idle_cpus(node) == slurm.cpus(node), 10), "CPUs not released"
    assert slurm.scontrol_job(job_id)["JobState"] == "COMPLETED"
    assert (researcher.home / "brief" / "kept.ipynb").exists()
    tab.close()


def test_two_notebooks_on_one_node_get_their_own_ports(slurm, researcher):
    researcher.slurm_profile(slurm={"slurm_partition": "single"})
    first = launch(researcher, "--name", "one")
    second = launch(researcher, "--name", "two")
    assert slurm.scontrol_job(first[2])["NodeList"] == slurm.scontrol_job(second[2])["NodeList"] == "c1"
    assert first[0] != second[0]
    assert facts_inside(*first[:2])["job"] == first[2]
    assert facts_inside(*second[:2])["job"] == second[2]


def test_check_prints_the_exact_sbatch_command_and_submits_nothing(slurm, researcher):
    queued = slurm.queue()
    result = researcher.startnotebook("--profile", "slurm", "--check", "--name", "plan",
                                      "--flavor", "medium")
    assert result.returncode == 0, result.stderr
    sbatch = next(line for line in result.stdout.splitlines() if "sbatch" in line and "--parsable" in line)
    for option in ("--job-name=plan", "--cpus-per-task=4", "--mem=32768M", "--time=480"):
        assert option in sbatch
    assert slurm.queue() == queued
    assert list(researcher.home.iterdir()) == []


def test_a_site_makes_slurm_the_default_with_snakemake_profile(slurm, researcher):
    researcher.env["SNAKEMAKE_PROFILE"] = "slurm"
    result = researcher.startnotebook("--check", "--name", "site-default")
    assert result.returncode == 0, result.stderr
    assert "backend          : slurm" in result.stdout
    assert "sbatch --parsable" in result.stdout


def assert_failed_cleanly(slurm, researcher, result, *messages):
    assert result.returncode != 0
    for message in messages:
        assert message in result.stderr, result.stderr
    assert result.stderr.startswith("startnotebook: error: ")
    assert wait_until(lambda: not slurm.queue(), 10), slurm.queue()
    assert wait_until(lambda: not researcher.server_processes(), 10)


def test_sbatch_refusing_an_unknown_partition_is_reported(slurm, researcher):
    researcher.slurm_profile(slurm={"slurm_partition": "nosuchpartition"})
    result = researcher.startnotebook("--profile", "slurm", "--name", "refused")
    assert_failed_cleanly(slurm, researcher, result, "sbatch refused the notebook job",
                          "Invalid partition name specified")
    assert result.stderr.count("\n") == 1


def test_sbatch_refusing_more_memory_than_any_node_has_is_reported(slurm, researcher):
    researcher.slurm_profile(flavours={"huge": {"cpus_per_task": 1, "mem_mb": 200_000, "runtime": 60}})
    result = researcher.startnotebook("--profile", "slurm", "--name", "toobig", "--flavor", "huge")
    assert_failed_cleanly(slurm, researcher, result, "sbatch refused the notebook job",
                          "Requested node configuration is not available")


def test_a_job_that_can_never_start_is_cancelled_at_once(slurm, researcher):
    """SLURM accepts 64 CPUs on 12-CPU nodes but leaves the job pending for ever (PartitionConfig)."""
    researcher.slurm_profile(flavours={"wide": {"cpus_per_task": 64, "mem_mb": 1024, "runtime": 60}})
    result = researcher.startnotebook("--profile", "slurm", "--name", "wide", "--flavor", "wide")
    assert_failed_cleanly(slurm, researcher, result, "PartitionConfig: it can never start",
                          "it was cancelled")


def test_a_job_that_dies_before_its_url_is_reported_with_its_log(slurm, researcher):
    jupyter = researcher.home / "dies" / ".jupyter"
    jupyter.mkdir(parents=True)
    (jupyter / "jupyter_server_config.py").write_text('raise SystemExit("broken on purpose")\n')
    result = researcher.startnotebook("--profile", "slurm", "--name", "dies")
    assert_failed_cleanly(slurm, researcher, result, "ended before its URL was known",
                          "broken on purpose")


def test_no_url_in_time_cancels_the_pending_job_with_its_reason(slurm, researcher):
    researcher.slurm_profile(slurm={"slurm_partition": "stuck"}, url_timeout=6)
    result = researcher.startnotebook("--profile", "slurm", "--name", "waits")
    assert_failed_cleanly(slurm, researcher, result, "no notebook URL after 6 s", "PENDING",
                          "the job was cancelled")
    assert "job: PENDING" in result.stdout


def test_ctrl_c_while_waiting_cancels_the_job(slurm, researcher):
    researcher.slurm_profile(slurm={"slurm_partition": "stuck"})
    process = subprocess.Popen([str(BIN / "startnotebook"), "--profile", "slurm", "--name", "impatient"],
                               env=researcher.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=researcher.home)
    assert wait_until(lambda: slurm.queue(), 30), "no job was submitted"
    job_id = slurm.queue()[0]
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "cancelled" in stderr
    assert job_id not in slurm.queue()
    assert slurm.scontrol_job(job_id)["JobState"] == "CANCELLED"


def test_the_launch_asks_the_controller_little_and_late(slurm, researcher, tmp_path):
    """Timestamps every sbatch/squeue/scancel/... call through pass-through wrappers around the
    real commands, for a launch whose job waits (and gives up after 12 s)."""
    calls = tmp_path / "calls"
    shims = tmp_path / "bin"
    shims.mkdir()
    for command in ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "sacct"):
        shim = shims / command
        shim.write_text(f'#!/bin/sh\necho "$(date +%s.%N) {command}" >> {calls}\nexec /usr/bin/{command} "$@"\n')
        shim.chmod(0o755)
    researcher.env["PATH"] = f"{shims}:{researcher.env['PATH']}"
    researcher.slurm_profile(slurm={"slurm_partition": "stuck"}, url_timeout=12)
    result = researcher.startnotebook("--profile", "slurm", "--name", "patient")
    assert result.returncode != 0 and "no notebook URL after 12 s" in result.stderr
    made = [(float(when), command) for when, command in (line.split() for line in calls.read_text().splitlines())]
    # Submitted once; asked first after 5 s (readiness comes from the job's files), again only
    # when giving up (the pending reason for the message); cancelled once. Nothing else: no
    # `scontrol show config` either (snakemake-executor-plugin-slurm's, when Snakemake loads it;
    # a launch on the local executor loads no executor plugin).
    assert [command for _, command in made] == ["sbatch", "squeue", "squeue", "scancel"], made
    submitted, first_question = made[0][0], made[1][0]
    assert first_question - submitted >= 5, made


def test_a_declared_session_launches_with_snakemake_and_the_slurm_profile(slurm, researcher, tmp_path):
    researcher.slurm_profile()  # installed as ~/.config/snakemake/slurm, as a site would
    sessions = tmp_path / "sessions.yaml"
    sessions.write_text(yaml.safe_dump({"sessions": {"declared": {"flavor": "medium"}}}))
    result = researcher.snakemake(
        "notebook_declared", "--profile", "slurm", "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(sessions),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    url, password = parse_banner(result.stdout)
    facts = facts_inside(url, password)
    assert facts["host"] in ("c1", "c2") and facts["job"]
    assert slurm.scontrol_job(facts["job"])["NumCPUs"] == "4"


def test_an_unreachable_controller_is_one_line_and_nothing_is_launched(slurm, researcher):
    """Whether the session's job still runs or has ended: with the controller down, a launch of
    it says so in one line and launches nothing (both asked while it is down, side by side)."""
    for name, timeout in (("unreachable-running", "600"), ("unreachable-ended", "2")):
        *_, job_id = launch(researcher, "--name", name, "--notebook-timeout", timeout)
    assert wait_until(lambda: job_id not in slurm.queue(), 30)
    slurm.stop_controller()
    try:
        launches = {name: researcher.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", name)
                    for name in ("unreachable-running", "unreachable-ended")}
        said = {name: (launch.communicate(timeout=150), launch.returncode) for name, launch in launches.items()}
    finally:
        slurm.start_controller(clean=False)
    for name, ((stdout, stderr), returncode) in said.items():
        assert returncode != 0, (name, stdout)
        assert stderr.startswith("startnotebook: error: ") and stderr.count("\n") == 1, (name, stderr)
        assert "controller" in stderr, (name, stderr)
        assert "successfully launched" not in stdout and "already running" not in stdout, (name, stdout)


def _is_python(path: str) -> bool:
    """A Python interpreter, or a script run by one (a console script such as startnotebook)."""
    if "python" in Path(path).name:
        return True
    try:
        with open(path, "rb") as stream:
            first = stream.readline()
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def test_a_launch_runs_in_one_python_interpreter_on_the_login_node(slurm, researcher, tmp_path):
    """The CLI runs the workflow in its own process: no `python -m snakemake`, no step processes."""
    trace = tmp_path / "exec.trace"
    result = researcher.run("strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace),
                            str(BIN / "startnotebook"), "--profile", "slurm", "--name", "counted")
    assert result.returncode == 0, result.stdout + result.stderr
    started = re.findall(r'execve\("([^"]+)".* = 0$', trace.read_text(), re.M)
    assert [path for path in started if _is_python(path)] == [str(BIN / "startnotebook")], started
    assert "sbatch" in " ".join(started)
