"""The contract of a backend (backends/__init__.py), for every backend: local, and SLURM on the
test cluster. A next backend (PBS, LSF, HTCondor) is done when it passes these too.

What the rest of the code relies on:

* ``submit(spec)`` starts ``spec.job_script_file`` detached, in the session folder, its output
  appended to ``spec.server_log``, and returns the job's own record (job.json, of its schema);
* ``statuses(jobs)`` tells every job asked about, in one question, in scheduler-neutral terms
  (pending / running / ended with how / unknown); a job it no longer knows has ended;
* ``cancel(job)`` ends the job; cancelling one already gone is no error;
* ``keeps_accounting()`` and ``accounted(ids)``: what the batch system's accounting says a job
  used, jobs it does not know left out (a backend that keeps none answers nothing).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import wait_until
from startnotebook.settings import config
from startnotebook.jobs.backends import (COMPLETED, ENDED, FAILED, GONE, PENDING, RUNNING, UNKNOWN, WALL_TIME,
                                         Accounted, JobStatus, get_backend)
from startnotebook.jobs.job import Container, JobSpec
from startnotebook.sessions.records import LaunchRecord, shape_problem

STATES = (PENDING, RUNNING, ENDED, UNKNOWN)
ENDINGS = (COMPLETED, WALL_TIME, FAILED, GONE)
#: What a job's script says first, and how long it then lives.
SCRIPT = '#!/bin/bash\necho "contract job in $(pwd)"\n{then}\n'


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def backend(request, monkeypatch):
    """Each backend, talking to its batch system as the commands do (from this process)."""
    if request.param == "slurm":
        slurm = request.getfixturevalue("slurm")
        monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    backend = get_backend(request.param)
    backend.submitted = []
    yield backend
    for job in backend.submitted:
        backend.cancel(job)


def submit(backend, folder, name: str, then: str = "sleep 300") -> tuple[dict, JobSpec]:
    """A job of the contract: its script says where it runs, then does ``then``."""
    session = folder / name
    record = LaunchRecord(session / ".startnotebook" / "launches" / "20261202T120000.000000Z-abcdef")
    record.folder.mkdir(parents=True)
    log = session / "server.log"
    log.write_text("an earlier launch's lines\n")
    spec = JobSpec(name, session, record, config.Flavour("contract", 1, 512, 5), Container(), log)
    spec.job_script_file.write_text(SCRIPT.format(then=then))
    job = backend.submit(spec)
    backend.submitted.append(job)
    return job, spec


def neutral(status: JobStatus) -> JobStatus:
    """A status in every backend's terms (the batch system's own word only as its label)."""
    assert status.state in STATES, status
    assert isinstance(status.label, str) and status.label, status
    if status.state == ENDED:
        assert status.ending in ENDINGS, status
    return status


def wait_for_state(backend, job: dict, states: tuple[str, ...], timeout: float = 30) -> JobStatus:
    status = wait_until(lambda: (found := neutral(backend.status(job))).state in states and found, timeout, 0.2)
    assert status, f"job {job['id']} never became {states}: {backend.status(job)}"
    return status


def test_submit_starts_the_script_detached_in_the_folder_and_appends_to_its_log(backend, tmp_path):
    job, spec = submit(backend, tmp_path, "ran")
    assert shape_problem(job, "job.json") is None, job
    assert job["backend"] == backend.name and isinstance(job["id"], str)
    wait_for_state(backend, job, (RUNNING,))
    said = wait_until(lambda: "contract job in" in spec.server_log.read_text() and spec.server_log.read_text(), 20)
    assert said.startswith("an earlier launch's lines\n"), said
    assert f"contract job in {spec.folder}" in said


def test_the_status_of_many_jobs_is_told_for_each_in_one_question(backend, tmp_path):
    assert backend.statuses([]) == {}
    running, _ = submit(backend, tmp_path, "long")
    brief, _ = submit(backend, tmp_path, "brief", then="exit 0")
    wait_for_state(backend, running, (RUNNING,))
    ended = wait_for_state(backend, brief, (ENDED,))
    assert ended.ended_by_itself and not ended.in_queue and ended.alive is False
    # A job id it never gave (SLURM), or a process that is not the job's (local: this one).
    unknown = {**running, "id": "999999"} if backend.name == "slurm" else \
        {**running, "id": str(os.getpid()), "start_ticks": "1"}
    told = backend.statuses([running, brief, unknown])
    assert set(told) == {running["id"], brief["id"], unknown["id"]}
    assert neutral(told[running["id"]]).state == RUNNING and told[running["id"]].alive
    assert neutral(told[brief["id"]]).state == ENDED
    assert neutral(told[unknown["id"]]).state == ENDED, "a job it does not know has ended"
    assert backend.status(running) == told[running["id"]] or backend.status(running).state == RUNNING


def test_cancel_ends_a_job_and_a_job_already_gone_is_no_error(backend, tmp_path):
    job, _ = submit(backend, tmp_path, "cancelled")
    wait_for_state(backend, job, (RUNNING,))
    started = time.monotonic()
    backend.cancel(job)
    ended = wait_for_state(backend, job, (ENDED,), timeout=20)
    assert time.monotonic() - started < 20 and not ended.in_queue
    backend.cancel(job)  # again: gone already


def test_accounting_tells_what_it_keeps_and_leaves_out_what_it_does_not_know(backend, tmp_path):
    kept = backend.keeps_accounting()
    assert isinstance(kept, bool)
    assert backend.accounted([]) == {}
    job, _ = submit(backend, tmp_path, "accounted", then="sleep 1")
    wait_for_state(backend, job, (ENDED,))
    if not kept:
        assert backend.accounted([job["id"]]) == {}
        return
    found = wait_until(lambda: (answer := backend.accounted([job["id"], "999999"])).get(job["id"])
                       and (answer[job["id"]].end is not None) and answer, 30, 1)
    assert found and set(found) == {job["id"]}, found
    use = found[job["id"]]
    assert isinstance(use, Accounted) and use.start <= use.end and use.cpus >= 1


def test_a_backend_describes_what_it_would_start_and_checks_at_a_pace(backend, tmp_path):
    spec = JobSpec("plan", tmp_path / "plan", LaunchRecord(tmp_path / "plan" / "l"),
                   config.Flavour("contract", 1, 512, 5), Container(), tmp_path / "plan" / "server.log")
    lines = backend.describe(spec)
    assert lines[0][0] == "backend" and lines[0][1].startswith(backend.name)
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in lines)
    delays = backend.check_delays()
    assert all(next(delays) > 0 for _ in range(5))
    assert isinstance(backend.accounting_name, str) and backend.bind_ip
    assert not list(tmp_path.iterdir()), "describing starts nothing"


def test_no_job_of_the_contract_is_left_behind(backend, tmp_path):
    job, _ = submit(backend, tmp_path, "left")
    backend.cancel(job)
    wait_for_state(backend, job, (ENDED,))
    if backend.name == "slurm":
        queue = subprocess.run(["squeue", "--noheader", "--format=%i", "--states=PENDING,RUNNING"],
                               capture_output=True, text=True, timeout=30).stdout.split()
        assert job["id"] not in queue
