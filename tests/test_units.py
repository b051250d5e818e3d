"""The pieces a launch is made of, on their own: config merging, checks, the sbatch command line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from startnotebook import jupyter_config, settings
from startnotebook.backends import slurm
from startnotebook.errors import InvalidRequest
from startnotebook.session import SessionPaths


def session(**overrides) -> settings.SessionSettings:
    values = dict(name="exp", folder="/home/ada/exp", backend="slurm", flavor="medium",
                  cpus_per_task=4, mem_mb=32768, runtime=480, kernel_timeout=600,
                  notebook_timeout=600, url_timeout=600)
    return settings.SessionSettings(**{**values, **overrides})


def test_config_files_merge_deeply_as_snakemake_merges_them():
    base = {"flavours": {"small": {"cpus_per_task": 1}}, "backend": "local"}
    merged = settings.merge(base, {"flavours": {"medium": {"cpus_per_task": 4}}, "backend": "slurm"})
    assert merged == {"flavours": {"small": {"cpus_per_task": 1}, "medium": {"cpus_per_task": 4}},
                      "backend": "slurm"}
    assert base["backend"] == "local"


@pytest.mark.parametrize("value", ["1", "600", 5, " 7 "])
def test_timeouts_are_whole_positive_seconds(value):
    assert settings.check_timeout("--kernel-timeout", value) == int(str(value).strip())


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1e3", "", "ten", True, 2.0, None])
def test_other_timeouts_are_refused(value):
    with pytest.raises(InvalidRequest, match="positive whole number"):
        settings.check_timeout("--kernel-timeout", value)


def test_a_flavour_may_bring_its_own_partition():
    config = settings.load_config()
    config["slurm"] = {"slurm_partition": "standard", "slurm_account": "proj1", "slurm_extra": ""}
    config["flavours"]["medium"]["slurm_partition"] = "big"
    config["sessions"] = {"exp": {"flavor": "medium"}}
    resolved = settings.resolve_session(config, "exp")
    assert (resolved.slurm_partition, resolved.slurm_account) == ("big", "proj1")


def test_sbatch_command_carries_the_flavour_and_site_settings():
    paths = SessionPaths(Path("/home/ada/exp"))
    command = slurm.sbatch_command(
        session(slurm_partition="gpu", slurm_account="proj 1", slurm_extra="--qos=short --exclusive"),
        paths,
    )
    assert command[:2] == ["sbatch", "--parsable"]
    for option in ("--job-name=exp", "--cpus-per-task=4", "--mem=32768M", "--time=480",
                   "--partition=gpu", "--account=proj 1", "--qos=short", "--exclusive",
                   "--chdir=/home/ada/exp", "--output=/home/ada/exp/.startnotebook/logs/server.log"):
        assert option in command
    assert command[-1] == "/home/ada/exp/.startnotebook/launch/job.sh"


def test_job_script_quotes_what_it_exports():
    script = slurm.job_script(session(folder="/home/ada/my exp"), SessionPaths(Path("/home/ada/my exp")))
    assert "export HOME='/home/ada/my exp'" in script
    exec_line = script.strip().splitlines()[-1]
    assert shlex.split(exec_line)[:4] == ["exec", sys.executable, "-m", "startnotebook.jupyter_app"]


def test_sbatch_messages_lose_their_prefix():
    assert slurm._last_line("sbatch: error: Batch job submission failed: Invalid partition\n") == \
        "Batch job submission failed: Invalid partition"


@pytest.mark.parametrize("timeout, interval", [(1, 1), (5, 2), (10, 5), (600, 5)])
def test_timeouts_are_checked_often_enough_to_be_at_most_5_s_late(timeout, interval):
    assert jupyter_config.check_interval(timeout) == interval


def test_slurm_polls_rarely_once_a_job_waits():
    backend = slurm.SlurmBackend()
    waited, calls = 0.0, 0
    while waited < 600:
        calls += 1
        waited += backend.poll_delay(calls)
    assert calls <= 15  # ten minutes in the queue
