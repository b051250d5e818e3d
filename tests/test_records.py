"""Damaged or hostile launch records, and numbers in other scripts' digits.

A user's records live in their own session folder, but a full quota, a crash, an editor or a
hostile program can leave any of them in any shape. Every command reads them as they are: a record
of the wrong shape is damage (one notice, never a traceback), and damage never costs a live session
its secrets or gets it a second server beside the first.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
from pathlib import Path

import pytest

from conftest import User, job_of, kill_leftovers, latest_launch, wait_until
from jupyter_session import JupyterSession, parse_banner

RECORD_FILES = ("launch.json", "job.json", "start.json", "handover.json", "connection.json",
                "end.json", "activity.json", "exit.json")


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def assert_no_traceback(result, *allowed_codes: int) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if allowed_codes:
        assert result.returncode in allowed_codes, result.stderr


@contextlib.contextmanager
def damaged(path: Path, text: str | bytes):
    """``path`` holds ``text`` for the block; what it held before comes back afterwards."""
    before = path.read_bytes() if path.exists() else None
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        yield path
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def launch(user: User, name: str, timeout: str = "300") -> tuple[str, str]:
    result = user.startnotebook("--name", name, "--notebook-timeout", timeout)
    assert result.returncode == 0, result.stderr
    return parse_banner(result.stdout)


def answers(url: str, password: str) -> bool:
    try:
        JupyterSession(url, password)
    except Exception:  # noqa: BLE001 - any failure to log in means it does not answer
        return False
    return True


# --- numbers ---------------------------------------------------------------------------------------
OTHER_DIGITS = {"superscript two": "²", "circled one": "①", "arabic-indic three": "٣",
                "fullwidth five": "５", "ascii then superscript": "6²"}


@pytest.mark.parametrize("digits", OTHER_DIGITS.values(), ids=OTHER_DIGITS.keys())
@pytest.mark.parametrize("option", ["--kernel-timeout", "--notebook-timeout"])
def test_a_timeout_in_other_digits_is_one_line_and_starts_nothing(user, option, digits):
    result = user.startnotebook("--name", "digits", option, digits)
    assert result.returncode != 0
    assert result.stderr.startswith(f"startnotebook: error: {option} must be a positive whole number")
    assert result.stderr.count("\n") == 1, result.stderr
    assert tree(user.home) == [] and user.server_processes() == []


@pytest.mark.parametrize("digits", ["²", "٣"])
def test_a_sheet_cell_in_other_digits_is_one_line_naming_its_column(user, digits):
    project = user.home / "project"
    project.mkdir()
    assert user.startnotebook("init", cwd=project).returncode == 0
    with open(project / "config" / "sessions.tsv", "a") as sheet:
        sheet.write(f"odd\tsmall\t{digits}\t60\t\t\n")
    result = user.startnotebook("--name", "odd", cwd=project)
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert f"column kernel_timeout: '{digits}' is not of type 'integer'" in result.stderr
    assert not (user.home / "odd").exists() and user.server_processes() == []


# --- two live sessions, their records damaged in turn ---------------------------------------------
@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A researcher with two sessions running: ``live``, whose records get damaged, and ``calm``."""
    user = User(tmp_path_factory.mktemp("records-home"))
    user.sessions = {name: launch(user, name) for name in ("live", "calm")}
    yield user
    for name in user.sessions:
        user.startnotebook("stop", name)
    kill_leftovers(user)


def still_whole(user: User, name: str = "live") -> None:
    """The session's server answers with its password, which is still on record."""
    url, password = user.sessions[name]
    assert (latest_launch(user.home / name) / "password").read_text().strip() == password
    assert answers(url, password), f"{name}'s server no longer answers"


def test_a_hostile_handover_breaks_no_command_and_no_other_session(desk):
    record = latest_launch(desk.home / "live")
    with damaged(record / "handover.json", '{"host": 5}'):
        listed = desk.startnotebook("list", "--all", "--json")
        assert_no_traceback(listed, 0)
        rows = {row["name"]: row for row in json.loads(listed.stdout)}
        assert rows["calm"]["state"] == "running" and rows["calm"]["url"] == desk.sessions["calm"][0]
        assert rows["live"]["state"] != "running"  # its server cannot be found: not shown as reachable
        for command in (["list"], ["info", "live"], ["info", "live", "--json"], ["usage"]):
            assert_no_traceback(desk.startnotebook(*command), 0)
        assert (record / "password").exists()
    still_whole(desk)
    assert json.loads(desk.startnotebook("info", "live", "--json").stdout)["state"] == "running"


def test_a_damaged_job_record_of_a_running_session_keeps_it_running_and_alone(desk):
    record = latest_launch(desk.home / "live")
    launches = sorted(os.listdir(desk.home / "live" / ".startnotebook" / "launches"))
    url, password = desk.sessions["live"]
    for damage in ("{", '{"backend": "local", "id": "²"}', '{"id": 7}', "[]"):
        with damaged(record / "job.json", damage):
            listed = desk.startnotebook("list", "--json")
            assert_no_traceback(listed, 0)
            live = next(row for row in json.loads(listed.stdout) if row["name"] == "live")
            assert live["state"] == "running" and "job record is damaged" in live["reason"]
            assert live["url"] == url
            info = desk.startnotebook("info", "live")
            assert_no_traceback(info, 0)
            assert password in info.stdout
            assert_no_traceback(desk.startnotebook("usage"), 0)
            again = desk.startnotebook("--name", "live", "--notebook-timeout", "300")
            assert_no_traceback(again, 0)
            assert "already running" in again.stdout and url in again.stdout
            assert not (record / "end.json").exists()
        still_whole(desk)
    # No second launch was ever started beside the running one.
    assert sorted(os.listdir(desk.home / "live" / ".startnotebook" / "launches")) == launches


# --- the property: any shape of any record file ---------------------------------------------------
HOSTILE_VALUES = [None, [], {}, "", "a\x00\n\x1b[2Jb", -1, 0, 10 ** 40, 1.5, True, "²", "x" * 5000,
                  [1, 2], {"nested": {"deeper": []}}]
WHOLE_FILES = ["", "{", "null", "[]", "42", '"text"', "{}", "NaN", '{"x": Infinity}',
               '{"started": 1e999}', "1" + "0" * 5000, "[" * 100000, b"\xff\xfe\x00"]


def wrong_shapes(original: dict, rng: random.Random, count: int) -> list[str | bytes]:
    """Whole files of no shape at all, then the real record with a key gone or of a wrong type."""
    shapes: list[str | bytes] = list(WHOLE_FILES)
    keys = sorted(original)
    while len(shapes) < count:
        changed = dict(original)
        key = rng.choice(keys)
        if rng.random() < 0.2:
            del changed[key]
        else:
            changed[key] = rng.choice(HOSTILE_VALUES)
        if rng.random() < 0.3:  # a second key wrong too
            changed[rng.choice(keys)] = rng.choice(HOSTILE_VALUES)
        shapes.append(json.dumps(changed))
    return shapes


@pytest.fixture
def in_process(desk, monkeypatch):
    """The commands' own functions, called here for the many examples (a process each would
    cost a second apiece)."""
    monkeypatch.setenv("HOME", str(desk.home))
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    from startnotebook.sessions.accounting import from_records
    from startnotebook.jobs.backends import get_backend
    from startnotebook.commands.info import describe, text
    from startnotebook.commands.list_sessions import row
    from startnotebook.errors import StartNotebookError
    from startnotebook.launch.launching import assess
    from startnotebook.launch.request import load_profile_site
    from startnotebook.sessions.session import Session, sessions
    from startnotebook.sessions.status import statuses

    site = load_profile_site(None)

    def every_command_reads() -> None:
        everyone = sessions(site)
        for status in statuses(everyone, site.backend):
            row(status)
            text(describe(status))
        from_records(everyone)
        try:
            assess(Session.find(site, "live"), get_backend(site.backend))
        except StartNotebookError:
            pass  # a one-line refusal is an answer
    return every_command_reads


def test_any_shape_of_any_record_never_breaks_a_command_nor_costs_a_live_session(desk, in_process):
    rng = random.Random(15)
    record = latest_launch(desk.home / "live")
    record_files = {name: record / name for name in RECORD_FILES}
    originals = {name: json.loads(path.read_text()) if path.exists() else ABSENT_RECORDS[name]
                 for name, path in record_files.items()}
    for name, path in record_files.items():
        for shape in wrong_shapes(originals[name], rng, 30):
            with damaged(path, shape):
                in_process()
                assert (record / "password").exists() and (record / "connection.json").exists(), \
                    (name, shape)
    still_whole(desk)
    # And through the commands themselves, a hostile shape of each file.
    for name, path in record_files.items():
        with damaged(path, json.dumps({key: [None] for key in originals[name]})):
            for command in (["list", "--all"], ["info", "live", "--json"], ["usage"], ["logs", "live"]):
                assert_no_traceback(desk.startnotebook(*command), 0)
            if name not in ("handover.json", "connection.json"):
                # (Without those its server cannot be found: a relaunch replaces it, as it should.)
                again = desk.startnotebook("--name", "live", "--notebook-timeout", "300")
                assert_no_traceback(again, 0)
                assert "already running" in again.stdout, (name, again.stdout)
        still_whole(desk)
    # And stop, with every record but those that find the server in a hostile shape.
    calm = latest_launch(desk.home / "calm")
    with contextlib.ExitStack() as stack:
        for name in ("launch.json", "start.json", "end.json", "activity.json", "exit.json"):
            stack.enter_context(damaged(calm / name, json.dumps([{"state": None}])))
        stopped = desk.startnotebook("stop", "calm")
        assert_no_traceback(stopped, 0)
        assert stopped.stdout.startswith("Stopped calm")
        assert wait_until(lambda: not answers(*desk.sessions["calm"]), 15)
        assert json.loads((calm / "end.json").read_text())["state"] == "ended"  # damage replaced


#: Shapes of the files a running session may not have yet.
ABSENT_RECORDS = {
    "end.json": {"state": "ended", "reason": "the server was stopped", "ended": 1764650000.0},
    "exit.json": {"exited": 1764650000.0, "status": 0},
    "activity.json": {"kernels": 0, "terminals": 0, "idle_since": "2026-12-02T05:00:00+00:00"},
}


# --- stop, and a damaged record with nothing behind it --------------------------------------------
def test_stop_ends_a_session_whose_job_record_is_damaged_through_its_server(user):
    url, password = launch(user, "worn")
    record = latest_launch(user.home / "worn")
    pid = int(job_of(user.home / "worn")["id"])
    (record / "job.json").write_text('{"backend": "local"}')
    stopped = user.startnotebook("stop", "worn")
    assert_no_traceback(stopped, 0)
    assert stopped.stdout.startswith("Stopped worn")
    assert wait_until(lambda: not answers(url, password), 15)
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists(), 15)


def test_a_damaged_job_record_with_no_server_is_told_once_and_launched_afresh(user):
    first_url, _ = launch(user, "gone")
    record = latest_launch(user.home / "gone")
    os.killpg(int(job_of(user.home / "gone")["id"]), signal.SIGKILL)  # a node crash: no word left
    assert wait_until(lambda: not user.server_processes(), 15)
    (record / "job.json").write_text('{"backend": "slurm", "id": "٣"}')
    listed = user.startnotebook("list", "--all", "--json")
    assert_no_traceback(listed, 0)
    (gone,) = json.loads(listed.stdout)
    assert gone["state"] == "failed" and "record is damaged" in gone["reason"]
    assert not (record / "password").exists()  # nothing answers: its secrets go, once
    relaunched = user.startnotebook("--name", "gone", "--notebook-timeout", "60")
    assert_no_traceback(relaunched, 0)
    url, password = parse_banner(relaunched.stdout)
    assert answers(url, password)


def test_an_ordinary_user_keeps_a_session_whose_job_record_is_damaged(tmp_path):
    ann = User.ordinary("rc-ann")
    try:
        url, password = launch(ann, "ann")
        record = latest_launch(ann.home / "ann")
        (record / "job.json").write_text("{\"backend\": \"local\", \"id\": \"①\"}")
        ann.owns(record / "job.json")
        again = ann.startnotebook("--name", "ann", "--notebook-timeout", "300")
        assert_no_traceback(again, 0)
        assert "already running" in again.stdout and url in again.stdout
        assert (record / "password").exists() and answers(url, password)
        stopped = ann.startnotebook("stop", "ann")
        assert_no_traceback(stopped, 0)
        assert wait_until(lambda: not answers(url, password), 15)
        assert wait_until(lambda: not ann.account.processes(), 15)
    finally:
        kill_leftovers(ann)
        ann.account.remove()
