"""The one judgement of a launch, over its whole table: every record a launch may leave × every
job state a backend may tell × whether its URL answers (and proves it is the launch's).

Its answers must be consistent with each other, and every caller must agree with it: a new
launch's assessment and what it retires (launching.py, the Snakefile's side too), the state that
``list``, ``info`` and ``stop`` show and act on (status.py, commands/). Unit level: the records'
facts, the backend and the server are given, nothing runs.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from pathlib import Path

import pytest

from startnotebook.commands import info, list_sessions, stop
from startnotebook.errors import ControllerUnreachable, SessionRunning, StartNotebookError
from startnotebook.jobs.backends import COMPLETED, ENDED, FAILED, GONE, PENDING, RUNNING, UNKNOWN, WALL_TIME, JobStatus
from startnotebook.launch import launching
from startnotebook.sessions import judgement, status
from startnotebook.sessions.judgement import Answer, LaunchFacts, judge
from startnotebook.sessions.records import LaunchRecord, read_json
from startnotebook.sessions.session import Session

JOB = {"backend": "slurm", "id": "42"}
CONNECTION = {"url": "http://10.0.0.1:8888", "password": "secret", "launch": "L"}
URL = "http://10.0.0.1:8888"

#: Every shape of records an open (or closed) launch may leave.
RECORDS = {
    "never launched": LaunchFacts(launched=False),
    "ended on record": LaunchFacts(end={"state": "ended", "reason": "stopped", "ended": 1.0}),
    "failed on record": LaunchFacts(end={"state": "failed", "reason": "its node was lost", "ended": 1.0}),
    "no job, launch gone": LaunchFacts(),
    "no job, launch gone, damaged": LaunchFacts(damage=("launch.json: not JSON",)),
    "no job, launch waits": LaunchFacts(launch_waits=True),
    "no job, launch waits elsewhere": LaunchFacts(launch_waits=True, launching_on="login2"),
    "no job, a handover": LaunchFacts(handover=True),
    "damaged job": LaunchFacts(job_damage="job.json: not JSON", damage=("job.json: not JSON",)),
    "damaged job, handover": LaunchFacts(job_damage="job.json: not JSON", damage=("job.json: not JSON",),
                                         handover=True),
    "damaged job, handover, connection": LaunchFacts(
        job_damage="job.json: not JSON", damage=("job.json: not JSON",), handover=True,
        connection=CONNECTION, connection_written=True),
    "damaged job, launch waits": LaunchFacts(job_damage="job.json: not JSON", damage=("job.json: not JSON",),
                                             launch_waits=True),
    "job, launch gone before the URL": LaunchFacts(job=JOB),
    "job, launch waits": LaunchFacts(job=JOB, launch_waits=True),
    "job, handover, launch gone before the URL": LaunchFacts(job=JOB, handover=True),
    "job, launch waits elsewhere": LaunchFacts(job=JOB, launch_waits=True, launching_on="login2"),
    "job, URL shown": LaunchFacts(job=JOB, handover=True, connection=CONNECTION, connection_written=True),
    "job, URL shown, connection damaged": LaunchFacts(
        job=JOB, handover=True, connection_written=True, damage=("connection.json: not JSON",)),
    "job, URL shown, handover damaged": LaunchFacts(
        job=JOB, connection=CONNECTION, connection_written=True, damage=("handover.json: not JSON",)),
}

#: Every job state a backend may tell, in its neutral terms (None: no job was asked about).
JOBS = {
    "not asked": None,
    "pending": JobStatus(PENDING, "PENDING", "Resources"),
    "pending for ever": JobStatus(PENDING, "PENDING", "PartitionConfig: it can never start", never_starts=True),
    "running": JobStatus(RUNNING, "RUNNING", "on c1", node="c1", time_left="7:59:00"),
    "completed": JobStatus(ENDED, "COMPLETED", ending=COMPLETED),
    "wall time": JobStatus(ENDED, "TIMEOUT", ending=WALL_TIME),
    "failed": JobStatus(ENDED, "NODE_FAIL", ending=FAILED),
    "gone": JobStatus(ENDED, "ENDED", "no longer known", ending=GONE),
    "unknown": JobStatus(UNKNOWN, "UNKNOWN", "the controller did not answer"),
}

#: What the server its handover names says (None: not asked, there is no handover).
ANSWERS = {
    "not asked": None,
    "proven": Answer(URL, True),
    "silent": Answer(URL, False, f"{URL} does not answer"),
    "impostor": Answer(URL, False, "something else answers on port 8888", impostor=True),
}


def possible(facts: LaunchFacts, job: JobStatus | None, answer: Answer | None) -> bool:
    """The cases callers can meet: the backend is asked exactly about an open record's job, the
    server exactly when a handover names one."""
    open_record = facts.launched and facts.end is None
    if (job is not None) != (open_record and facts.job is not None):
        return False
    return (answer is not None) == (open_record and facts.handover)


TABLE = [pytest.param(facts, job, answer, id=f"{r}-{j}-{a}")
         for (r, facts), (j, job), (a, answer) in itertools.product(RECORDS.items(), JOBS.items(), ANSWERS.items())
         if possible(facts, job, answer)]


def test_the_table_covers_every_record_job_state_and_answer():
    cases = [case.values for case in TABLE]
    for name, table in ((0, RECORDS), (1, JOBS), (2, ANSWERS)):
        assert all(any(case[name] is value for case in cases) for value in table.values())


# --- the judgement is consistent ------------------------------------------------------------------
@pytest.mark.parametrize("facts, job, answer", TABLE)
def test_the_judgement_is_consistent(facts, job, answer):
    said = judge(facts, job, answer)
    assert said.state in ("pending", "running", "ended", "failed", "unknown")
    assert said == judge(facts, job, answer)  # pure: the same answer every time
    proven = answer is not None and answer.proven
    if said.state != "running":
        assert said.reason, "every state but running says why"
    # Only a proven server is ever running; and what runs, waits or cannot be told is never retired.
    if said.state == "running":
        assert proven
    if said.live or said.state == "unknown":
        assert said.retire is None and not said.tell
    if said.state == "unknown":
        assert job is not None and job.alive is None
    # A launch closed on record is what its record says; an open one not live is retired.
    if facts.end is not None or not facts.launched:
        assert said.retire is None
    elif not said.live and said.state != "unknown":
        assert said.retire is not None
    retire = said.retire
    if retire is None:
        return
    # The job cancelled is the launch's own, and only while the batch system holds it.
    if retire.cancel is not None:
        assert retire.cancel is facts.job and job.in_queue
    elif job is not None:
        assert not job.in_queue, "a job in the queue is never left behind by a retirement"
    # A server is shut down only once it proved it is the launch's, and only outside any job.
    if retire.shut_down:
        assert proven and not (job is not None and job.alive)
    elif proven:
        assert job is not None and job.in_queue, "a proven server is never left running on retirement"
    # Anyone may end at once only what serves nobody: no server, and a job only if its launch
    # died before showing its URL (nobody can connect to it).
    if retire.now:
        assert not retire.shut_down
        if retire.cancel is not None:
            assert not facts.connection_written
    if answer is not None and answer.impostor:
        assert not retire.shut_down and said.tell
        if facts.connection_written and job is not None and not job.stuck:
            assert answer.problem in said.reason, "something else on its port is said as such"
    if said.tell:
        assert said.state == "failed" or (answer is not None and answer.impostor)


@pytest.mark.parametrize("label, job", [(label, job) for label, job in JOBS.items() if job is not None])
def test_a_job_that_runs_with_a_proven_server_and_its_url_shown_runs(label, job):
    said = judge(RECORDS["job, URL shown"], job, ANSWERS["proven"])
    assert (said.state == "running") == (job.state == RUNNING or job.alive is True), (label, said)


# --- every caller agrees with it ------------------------------------------------------------------
class FakeBackend:
    """A backend that tells the table's job state and notes what it is asked to cancel."""

    name = "slurm"

    def __init__(self, job: JobStatus | None):
        self.job, self.cancelled = job, []

    def status(self, job: dict) -> JobStatus:
        assert self.job is not None, "the backend is asked only about an open record's job"
        return self.job

    def statuses(self, jobs: list[dict]) -> dict[str, JobStatus]:
        return {job["id"]: self.status(job) for job in jobs}

    def cancel(self, job: dict) -> None:
        self.cancelled.append(job)


class FakeServer:
    def __init__(self):
        self.shut_down = []

    def shutdown(self, password: str) -> None:
        self.shut_down.append(password)


@pytest.fixture
def launch(tmp_path, monkeypatch):
    """A session with one launch record whose facts, job and server the table gives."""
    session = Session("exp", tmp_path / "exp")
    record = LaunchRecord(session.launches_folder / "20261202T120000.000000Z-abcdef")
    record.folder.mkdir(parents=True)
    record.password_file.write_text("secret\n")
    server = FakeServer()

    def given(facts: LaunchFacts, job: JobStatus | None, answer: Answer | None) -> FakeBackend:
        backend = FakeBackend(job)
        for module in (launching, status):
            monkeypatch.setattr(module, "facts_of", lambda _session, latest: facts if latest else LaunchFacts(launched=False))
            monkeypatch.setattr(module, "answer_of", lambda _record: answer)
        monkeypatch.setattr(launching, "server_of", lambda _record: server)
        monkeypatch.setattr(status, "get_backend", lambda _name: backend)
        if not facts.launched:
            record.password_file.unlink()
            record.folder.rmdir()
        return backend

    return session, record, server, given


@pytest.mark.parametrize("facts, job, answer", TABLE)
def test_a_new_launch_decides_and_retires_as_judged(launch, facts, job, answer):
    session, record, server, given = launch
    backend = given(facts, job, answer)
    said = judge(facts, job, answer)
    try:
        assessment = launching.assess(session, backend)
    except ControllerUnreachable:
        assert said.state == "unknown"
        return
    except SessionRunning:
        assert said.state == "running" and facts.connection is None
        return
    except StartNotebookError as refusal:
        assert said.state == "pending" and "in progress" in str(refusal)
        return
    assert said.state not in ("unknown", "pending")
    assert (assessment.running is not None) == (said.state == "running")
    if said.state == "running":
        assert assessment.connection == facts.connection
        return
    assert (assessment.stale is not None) == (said.retire is not None)
    assert assessment.judgement == (said if said.retire is not None else None)
    assert (assessment.notice is not None) == said.tell
    launching.retire(assessment, backend, launching.Progress())
    if said.retire is None:
        assert backend.cancelled == [] and server.shut_down == []
        return
    assert backend.cancelled == ([said.retire.cancel] if said.retire.cancel else [])
    assert server.shut_down == (["secret"] if said.retire.shut_down else [])
    end = read_json(record.end_file)
    assert (end["state"], end["reason"]) == (said.state, said.reason)
    assert not record.password_file.exists()


@pytest.mark.parametrize("facts, job, answer", TABLE)
def test_the_snakefile_side_launches_unless_it_runs(launch, monkeypatch, facts, job, answer):
    session, _, _, given = launch
    backend = given(facts, job, answer)
    said = judge(facts, job, answer)
    monkeypatch.setattr(launching, "plan_launch", lambda *args: "a new launch")
    try:
        _, plan = launching.running_or_new_launch(None, None, session, backend, launching.Progress(), "snakemake")
    except StartNotebookError:
        assert said.state in ("unknown", "pending") or (said.state == "running" and facts.connection is None)
        return
    assert (plan is None) == (said.state == "running")


@pytest.mark.parametrize("facts, job, answer", TABLE)
def test_list_info_and_stop_show_and_act_as_judged(launch, monkeypatch, facts, job, answer):
    session, record, _, given = launch
    backend = given(facts, job, answer)
    said = judge(facts, job, answer)
    (found,) = status.statuses([session], "slurm")
    assert (found.state, found.job_status) == (said.state, job)
    assert found.reason.startswith(said.reason)
    assert list_sessions.row(found)["state"] == info.describe(found)["state"] == said.state
    retire = said.retire
    if retire is not None and retire.now:
        # Ended here at once: closed as judged, its job (a dead launch's) cancelled.
        end = read_json(record.end_file)
        assert (end["state"], end["reason"]) == (said.state, said.reason)
        assert backend.cancelled == ([retire.cancel] if retire.cancel else [])
        assert found.left is None
    else:
        assert backend.cancelled == [] and not record.end_file.exists()
        assert found.left == retire
    assert found.orphan == said.orphan
    # `stop`: refuses what it cannot tell or what is being launched, stops what is left of it.
    stopped = []
    monkeypatch.setattr(stop, "status_of", lambda _session, _backend: found)
    monkeypatch.setattr(stop, "stop", lambda of: stopped.append(of) or "Stopped")
    try:
        stop._stop_under_lock(session, SimpleNamespace(backend="slurm"), "exp")
    except ControllerUnreachable:
        assert said.state == "unknown"
        return
    except StartNotebookError:
        assert said.state == "pending" and said.reason == judgement.LAUNCHING
        return
    assert bool(stopped) == (said.live or (retire is not None and not retire.now))


def test_the_cases_the_behaviour_tests_name_are_judged_as_they_say():
    """The table's rows the cluster tests walk (test_node_failure, test_races, test_sessions,
    test_proof), in the words those tests look for."""
    lost = judge(RECORDS["job, URL shown"], JOBS["failed"], ANSWERS["proven"])
    assert lost.state == "failed" and lost.orphan and "still answers" in lost.reason
    frozen = judge(RECORDS["job, URL shown"], JOBS["running"], ANSWERS["silent"])
    assert frozen.state == "failed" and "no longer answers" in frozen.reason and frozen.retire.cancel == JOB
    killed = judge(RECORDS["job, launch gone before the URL"], JOBS["pending for ever"], None)
    assert killed.retire.now and "its launch died before showing the URL" in killed.reason
    held = judge(RECORDS["job, launch waits"], JOBS["pending"], None)
    assert held.state == "pending" and held.retire is None
    timeout = judge(RECORDS["job, URL shown"], JOBS["wall time"], ANSWERS["silent"])
    assert (timeout.state, timeout.reason) == ("ended", "wall time reached")
    impostor = judge(RECORDS["job, URL shown"], JOBS["gone"], ANSWERS["impostor"])
    assert impostor.state == "ended" and "something else answers on port 8888" in impostor.reason
    assert impostor.tell and not impostor.orphan


def test_status_and_launching_keep_no_judgement_of_their_own():
    """The judgement lives in one module: the others gather its facts and act on its answer."""
    for module in (status, launching):
        source = Path(module.__file__).read_text()
        for word in (".alive", ".stuck", ".in_queue", ".label", "Impostor"):
            assert word not in source, (module.__name__, word)
