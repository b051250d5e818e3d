"""A researcher launches a notebook, logs in with the printed password and runs code."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest

from conftest import job_of, latest_launch, BIN, REPO, User, kill_leftovers, wait_until
from jupyter_session import JupyterSession, LoginRefused, parse_banner

EXPECTED_BANNER = """Starting Notebook.
Determining Notebook url"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`startnotebook --name demo` on this machine, as in the README."""
    user = User(tmp_path_factory.mktemp("home"))
    result = user.startnotebook("--name", "demo")
    assert result.returncode == 0, result.stderr
    yield user, result
    kill_leftovers(user)


def test_launch_prints_url_and_password_like_the_original_tool(demo):
    _, result = demo
    assert result.stdout.startswith(EXPECTED_BANNER)
    assert "\nNotebook successfully launched!\nAccess your notebook using the following parameters:\n\n\turl : http://" in result.stdout
    url, password = parse_banner(result.stdout)
    assert url.startswith("http://127.0.0.1:")
    assert len(password) >= 16  # 144 random bits, URL-safe base64


def test_log_in_and_run_a_cell(demo):
    _, result = demo
    jupyter = JupyterSession(*parse_banner(result.stdout))
    kernel = jupyter.connect(jupyter.start_kernel("python3"))
    assert kernel.execute("a = 5; b = 6; a + b") == "11"
    kernel.close()


def test_a_saved_notebook_is_in_the_session_folder(demo):
    user, result = demo
    jupyter = JupyterSession(*parse_banner(result.stdout))
    jupyter.save_notebook("analysis.ipynb", "print('hello')")
    saved = user.home / "demo" / "analysis.ipynb"
    source = json.loads(saved.read_text())["cells"][0]["source"]
    assert "".join(source) == "print('hello')"


def test_a_wrong_password_is_refused(demo):
    url, password = parse_banner(demo[1].stdout)
    with pytest.raises(LoginRefused):
        JupyterSession(url, password + "x")
    with pytest.raises(LoginRefused):
        JupyterSession(url, "")


def test_the_session_folder_holds_the_state_of_jupyter_ipython_and_pip(demo):
    user, _ = demo
    folder = user.home / "demo"
    for name in (".jupyter", ".ipython", ".local", ".config"):
        assert (folder / name).is_dir(), name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_credentials_are_private_and_jupyter_holds_only_a_hash(demo):
    user, result = demo
    _, password = parse_banner(result.stdout)
    folder = user.home / "demo"
    launch = latest_launch(folder)
    for secret in (launch / "password", launch / "connection.json"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    config = json.loads((launch / "jupyter_config.json").read_text())
    assert config["PasswordIdentityProvider"]["hashed_password"].startswith("argon2:")
    assert config["IdentityProvider"]["token"] == ""
    # Never in a log, nor anywhere Jupyter keeps its state.
    for place in (folder / ".jupyter", folder / ".startnotebook" / "logs", folder / ".local"):
        for path in place.rglob("*"):
            if path.is_file():
                assert password not in path.read_text(errors="replace"), path


def test_launching_a_running_name_starts_nothing_and_shows_its_url(demo):
    user, first = demo
    servers = sorted(user.server_processes())
    again = user.startnotebook("--name", "demo")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert parse_banner(again.stdout) == parse_banner(first.stdout)
    assert sorted(user.server_processes()) == servers


def test_json_output_validates_against_the_schema(user):
    result = user.startnotebook("--name", "json-demo", "--json", "--notebook-timeout", "60")
    assert result.returncode == 0, result.stderr
    connection = json.loads(result.stdout)
    schema = json.loads((REPO / "schemas" / "connection.schema.json").read_text())
    jsonschema.validate(connection, schema, format_checker=jsonschema.FormatChecker())
    assert connection["name"] == "json-demo"
    assert connection["folder"] == str(user.home / "json-demo")
    kernel = JupyterSession(connection["url"], connection["password"])
    assert kernel.kernels() == []


def test_a_relaunch_keeps_every_file_and_makes_new_credentials(user):
    folder = user.home / "keep"
    (folder / "results").mkdir(parents=True)
    (folder / "results" / "data.csv").write_text("x,y\n1,2\n")
    (folder / "notes.ipynb").write_text('{"cells": []}')
    (folder / ".jupyter").mkdir()
    (folder / ".jupyter" / "jupyter_server_config.py").write_text("# mine\n")

    first = user.startnotebook("--name", "keep", "--notebook-timeout", "2")
    assert first.returncode == 0, first.stderr
    # No kernel is ever started: the server stops by itself after the notebook timeout.
    job = job_of(folder)
    assert wait_until(lambda: not Path(f"/proc/{job['id']}").exists(), 30)

    second = user.startnotebook("--name", "keep", "--notebook-timeout", "60")
    assert second.returncode == 0, second.stderr
    assert "already running" not in second.stdout
    assert parse_banner(second.stdout)[1] != parse_banner(first.stdout)[1]
    assert (folder / "results" / "data.csv").read_text() == "x,y\n1,2\n"
    assert (folder / "notes.ipynb").read_text() == '{"cells": []}'
    assert (folder / ".jupyter" / "jupyter_server_config.py").read_text() == "# mine\n"
    JupyterSession(*parse_banner(second.stdout))


def test_verbose_shows_the_workflow_and_the_server_while_waiting(user):
    result = user.startnotebook("--name", "chatty", "--verbose", "--notebook-timeout", "30")
    assert result.returncode == 0, result.stderr
    assert "[workflow] " in result.stdout and "rule submit" in result.stdout
    assert "[server] " in result.stdout and "Jupyter Server" in result.stdout
    assert parse_banner(result.stdout)


def test_two_launches_of_one_name_at_once_start_one_server(user):
    launches = [
        subprocess.Popen([str(BIN / "startnotebook"), "--name", "twice", "--notebook-timeout", "60"],
                         env=user.env, cwd=user.home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]
    outcomes = [launch.communicate(timeout=180) for launch in launches]
    launched = [out for out, _ in outcomes if "successfully launched" in out]
    assert len(launched) == 1, outcomes
    other = next(outcome for outcome in outcomes if "successfully launched" not in outcome[0])
    assert ("another launch of twice is in progress" in other[1]) or ("already running" in other[0])
    servers = [pid for pid in user.server_processes()
               if b"startnotebook.server" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(servers) == 1, servers


PLANTED = "open({marker!r}, 'a').write(__name__ + '\\n')\n"


def test_code_planted_where_the_user_stands_or_in_the_session_folder_never_runs(user, tmp_path):
    """Python puts the current directory first on sys.path for `python -m`: none of ours may."""
    marker = tmp_path / "planted-code-ran"
    here = tmp_path / "someone-elses-directory"
    (here / "snakemake").mkdir(parents=True)
    session = user.home / "planted"
    (session / "jupyter_server").mkdir(parents=True)
    for module in (here / "snakemake/__init__.py", here / "snakemake/__main__.py", here / "yaml.py",
                   here / "pandas.py", here / "tornado.py", here / "startnotebook.py",
                   session / "yaml.py", session / "traitlets.py", session / "startnotebook.py",
                   session / "jupyter_server/__init__.py"):
        module.write_text(PLANTED.format(marker=str(marker)))
    result = user.startnotebook("--name", "planted", "--notebook-timeout", "60", cwd=here)
    assert result.returncode == 0, result.stderr
    jupyter = JupyterSession(*parse_banner(result.stdout))
    assert jupyter.connect(jupyter.start_kernel()).execute("6 * 7") == "42"
    assert not marker.exists(), marker.read_text()
    assert sorted(path.name for path in here.iterdir()) == [
        "pandas.py", "snakemake", "startnotebook.py", "tornado.py", "yaml.py"]  # nothing added


@pytest.mark.parametrize("damaged, text, crashed", [
    ("connection.json", "", True),
    ("job.json", '{"backend": "lo', True),
    ("connection.json", "\x00\x00\x00", False),
], ids=["empty connection after a crash", "half-written job after a crash",
        "garbled connection while running"])
def test_a_damaged_launch_record_is_recovered_not_a_traceback(user, damaged, text, crashed):
    folder = user.home / "damaged"
    first = user.startnotebook("--name", "damaged", "--notebook-timeout", "60")
    assert first.returncode == 0, first.stderr
    job = job_of(folder)
    if crashed:
        # The whole session dies at once, leaving no word of how it ended (as a crash does).
        os.killpg(int(job["id"]), signal.SIGKILL)
        assert wait_until(lambda: not Path(f"/proc/{job['id']}").exists(), 10)
    (latest_launch(folder) / damaged).write_text(text)

    again = user.startnotebook("--name", "damaged", "--notebook-timeout", "60")
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr + again.stdout
    assert "successfully launched" in again.stdout
    if crashed:
        assert "is damaged" in again.stdout and "launching afresh" in again.stdout
    else:
        assert "is stale" in again.stdout and "its record is damaged" in again.stdout
    url, password = parse_banner(again.stdout)
    assert url != parse_banner(first.stdout)[0] or not crashed
    JupyterSession(url, password)
    servers = [pid for pid in user.server_processes()
               if b"startnotebook.server" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(servers) == 1, servers
