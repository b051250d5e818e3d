"""A session declared in a config file starts with `snakemake notebook_NAME`."""

from __future__ import annotations

import yaml

from conftest import REPO
from jupyter_session import JupyterSession, parse_banner


def test_declared_session_starts_with_snakemake(user, tmp_path):
    sessions = tmp_path / "sessions.yaml"
    sessions.write_text(yaml.safe_dump({
        "sessions": {"declared-one": {"flavor": "small", "notebook_timeout": 60}},
    }))
    result = user.snakemake(
        "notebook_declared-one", "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(sessions),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jupyter = JupyterSession(*parse_banner(result.stdout))
    kernel = jupyter.connect(jupyter.start_kernel())
    assert kernel.execute("import os; os.getcwd()") == repr(str(user.home / "declared-one"))


def test_a_bad_declaration_is_refused_with_its_reason(user, tmp_path):
    sessions = tmp_path / "sessions.yaml"
    sessions.write_text(yaml.safe_dump({"sessions": {"x": {"flavor": "huge"}}}))
    result = user.snakemake(
        "notebook_x", "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(sessions),
    )
    assert result.returncode != 0
    assert "unknown flavour 'huge'" in result.stdout + result.stderr
    assert not (user.home / "x").exists()
