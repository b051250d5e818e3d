"""--check shows and starts nothing; bad input gets one line, a non-zero exit, and nothing happens."""

from __future__ import annotations

import pytest

from conftest import BIN


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_check_shows_the_resources_and_starts_and_writes_nothing(user):
    result = user.startnotebook("--check", "--name", "planned", "--flavor", "medium",
                                "--kernel-timeout", "120", "--notebook-timeout", "900")
    assert result.returncode == 0, result.stderr
    for expected in ("local", "cpus             : 4", "32768 MB", "8:00:00", "120 s", "900 s",
                     str(user.home / "planned"), "image"):
        assert expected in result.stdout, expected
    assert tree(user.home) == []
    assert user.server_processes() == []


def test_check_shows_the_defaults(user):
    result = user.startnotebook("--check", "--name", "plain")
    assert result.returncode == 0, result.stderr
    assert "small" in result.stdout and "8192 MB" in result.stdout and "600 s" in result.stdout


def test_default_name_is_notebook_and_a_random_string(user):
    result = user.startnotebook("--check")
    folder = next(line for line in result.stdout.splitlines() if "folder" in line).split(": ")[1]
    assert folder.startswith(str(user.home / "notebook-")) and len(folder.split("notebook-")[1]) >= 6


def test_help_lists_every_option(user):
    result = user.startnotebook("-h")
    assert result.returncode == 0
    for option in ("--flavor", "--check", "--kernel-timeout", "--notebook-timeout", "--name",
                   "--verbose", "--json", "-h"):
        assert option in result.stdout


BAD_INPUT = {
    "unknown flavour": (["--flavor", "large"], "unknown flavour 'large'"),
    "zero timeout": (["--kernel-timeout", "0"], "--kernel-timeout must be a positive"),
    "negative timeout": (["--notebook-timeout", "-5"], "--notebook-timeout must be a positive"),
    "fractional timeout": (["--kernel-timeout", "1.5"], "--kernel-timeout must be a positive"),
    "word timeout": (["--notebook-timeout", "soon"], "--notebook-timeout must be a positive"),
    "empty name": (["--name", ""], "the session name is empty"),
    "slash in name": (["--name", "a/b"], "contains '/'"),
    "dot name": (["--name", ".hidden"], "starts with '.'"),
    "dot-dot name": (["--name", ".."], "starts with '.'"),
    "underscore first": (["--name", "_x"], "starts with '_'"),
    "percent in name": (["--name", "p%j"], "which SLURM expands"),
    "braces in name": (["--name", "a{x}b"], "which Snakemake reads as a wildcard"),
    "zero-width space in name": (["--name", "a\u200bb"], "invisible or text-direction character"),
    "text-direction override in name": (["--name", "evil\u202egnp.exe"], "invisible or text-direction character"),
    "space in name": (["--name", "my notebook"], "whitespace or a control character"),
    "tab in name": (["--name", "my\tnotebook"], "whitespace or a control character"),
    "control character in name": (["--name", "bell\x07"], "whitespace or a control character"),
    "long name": (["--name", "n" * 65], "longer than 64 characters"),
    "unknown option": (["--gpus", "2"], "unrecognized arguments"),
}


@pytest.mark.parametrize("args, message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
@pytest.mark.parametrize("mode", ["launch", "check"])
def test_bad_input_is_one_line_and_changes_nothing(user, args, message, mode):
    (user.home / "existing").mkdir()
    (user.home / "existing" / "work.ipynb").write_text("{}")
    before = tree(user.home)
    extra = ["--check"] if mode == "check" else []
    result = user.startnotebook(*args, *extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("startnotebook: error: ")
    assert tree(user.home) == before
    assert user.server_processes() == []


def test_a_64_character_name_is_fine(user):
    result = user.startnotebook("--check", "--name", "n" * 64)
    assert result.returncode == 0, result.stderr


def test_a_session_folder_that_is_a_file_is_refused(user):
    (user.home / "taken").write_text("my data")
    result = user.startnotebook("--name", "taken")
    assert result.returncode != 0
    assert "exists and is not a folder" in result.stderr
    assert result.stderr.count("\n") == 1
    assert (user.home / "taken").read_text() == "my data"
    assert user.server_processes() == []


def test_a_read_only_session_folder_is_refused(user):
    """The home is mounted read-only (a private mount namespace, so root cannot write either)."""
    (user.home / "ro").mkdir()
    (user.home / "ro" / "work.ipynb").write_text("{}")
    home = str(user.home)
    result = user.run(
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        f'mount --bind "{home}" "{home}" && mount -o remount,ro,bind "{home}" '
        f'&& exec "{BIN}/startnotebook" --name ro',
    )
    assert result.returncode != 0, result.stdout
    assert "session folder" in result.stderr and "cannot be written" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert (user.home / "ro" / "work.ipynb").read_text() == "{}"
    assert user.server_processes() == []


def test_a_server_that_cannot_start_says_why_and_leaves_nothing_running(user):
    jupyter = user.home / "broken" / ".jupyter"
    jupyter.mkdir(parents=True)
    (jupyter / "jupyter_server_config.py").write_text(
        'raise SystemExit("startnotebook-test: this config is broken on purpose")\n'
    )
    result = user.startnotebook("--name", "broken")
    assert result.returncode != 0
    assert "the notebook server ended before its URL was known" in result.stderr
    assert "this config is broken on purpose" in result.stderr
    assert user.server_processes() == []
    assert (jupyter / "jupyter_server_config.py").exists()
