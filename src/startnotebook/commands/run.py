"""``startnotebook run NAME``: a declared session's notebooks executed as batch jobs.

The wrapper of the target ``executed_NAME`` (workflow/rules/run.smk): it checks the project, the
row, the notebooks and the parameters first (one line and a non-zero exit, before any job), then
runs the project's own ``snakemake executed_NAME`` there, so that both keep one rerun record
(the project's ``.snakemake``) and agree on what is up to date. It goes on with the other
notebooks when one fails (``--keep-going``) and ends with one line per failed notebook.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ..errors import ConfigError, InvalidRequest, UnknownSession
from ..rerun.runs import Outputs, check_placeable, failures_since, missing_notebooks, notebook_paths
from ..sessions.names import check_name
from ..sessions.records import write_private
from ..jobs.backends import get_backend
from ..sessions.session import Session
from ..settings import profiles, project
from ..settings.config import load_site
from ..settings.reading import load_yaml
from ..settings.session_settings import check_timeout, session_settings

#: A parameter's name: what papermill can write as a Python assignment.
PARAMETER_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def parse_parameter(text: str) -> tuple[str, object]:
    """``KEY=VALUE``, VALUE read as a YAML scalar (``n=3`` is the number 3)."""
    import re

    key, equals, value = text.partition("=")
    if not equals or not re.fullmatch(PARAMETER_NAME, key):
        raise InvalidRequest(f"--param {text!r}: give KEY=VALUE, KEY a Python name")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise InvalidRequest(f"--param {text!r}: the value is not valid YAML "
                             f"({str(error).splitlines()[0]})") from None
    if isinstance(parsed, (list, dict)):
        raise InvalidRequest(f"--param {text!r}: the value must be a single value (a YAML scalar), "
                             "not a list or a mapping")
    return key, parsed


def _project(folder: Path) -> dict:
    config_file = folder / project.CONFIG
    if not config_file.is_file():
        raise InvalidRequest(f"no project in {folder} (no {project.CONFIG}; `startnotebook init` "
                             "writes one, or name it with --project)")
    project.check_ours(config_file, "project config")
    return load_yaml(config_file)


def _snakemake_argv(name: str, folder: Path, profile: Path | None, config_file: str, force: bool,
                    check: bool) -> list[str]:
    snakemake = Path(sys.executable).parent / "snakemake"
    argv = [str(snakemake) if snakemake.is_file() else "snakemake", f"executed_{name}",
            "--directory", str(folder), "--snakefile", str(folder / "workflow" / "Snakefile"),
            # The profile startnotebook found (never one in the current directory), by its path.
            "--profile", str(profile) if profile else "none",
            "--configfile", config_file, "--keep-going"]
    if force:
        argv += ["--forcerun", "executed_notebook"]
    if check:
        argv.append("--dry-run")
    return argv


def run(name: str, profile: str | None = None, project_dir: str | None = None,
        notebooks: list[str] = (), params: list[str] = (), run_timeout: str | None = None,
        force: bool = False, check: bool = False) -> int:
    """Run the session ``name`` of the project in ``project_dir`` (else the current directory)."""
    name = check_name(name)
    settings_of_run = {"notebooks": list(notebooks),
                       "parameters": dict(parse_parameter(text) for text in params)}
    if run_timeout is not None:
        settings_of_run["timeout"] = check_timeout("--run-timeout", run_timeout)
    folder = Path(project_dir or os.getcwd()).absolute()
    profile_path = profiles.find_profile(profile)
    site = load_site(profile_path)
    declared = project.declarations(_project(folder), folder, site)
    if name not in declared:
        raise UnknownSession(f"project {folder} declares no session {name} "
                             f"(it declares: {', '.join(sorted(declared)) or 'none'})")
    settings = session_settings(site, name, *declared[name])
    # Before the session folder is made (the Snakefile checks again, for a plain snakemake run).
    get_backend(site.backend).check_resources(settings.flavour)
    session = Session.find(site, name) if check else Session.create(site, name)
    paths = notebook_paths(settings, session.folder, list(notebooks))
    check_placeable(name, missing_notebooks(settings, session.folder, paths))
    outputs = [Outputs(session.folder, path.removesuffix(".ipynb")) for path in paths]
    return _run(name, folder, profile_path, settings_of_run, force, check, session, outputs)


def _run(name: str, folder: Path, profile: Path | None, run: dict, force: bool, check: bool,
         session: Session, outputs: list[Outputs]) -> int:
    started = time.time()
    with _run_config(session, run, check) as config:
        try:
            done = subprocess.run(_snakemake_argv(name, folder, profile, config, force, check),
                                  cwd=folder)
        except OSError as error:
            raise ConfigError(f"cannot run snakemake: {error.strerror}") from error
    failures = failures_since(outputs, started)
    for failure in failures:
        print(f"startnotebook: error: {failure}", file=sys.stderr)
    if done.returncode != 0 and not failures:
        print(f"startnotebook: error: the run of {name} failed (snakemake exited with status "
              f"{done.returncode}; its output is above)", file=sys.stderr)
    return done.returncode


@contextlib.contextmanager
def _run_config(session: Session, run: dict, dry: bool):
    """The run's settings as a config file for Snakemake, where its batch jobs (which are given
    it too) find it: in the session folder, not in a node's /tmp. A dry run writes nothing there."""
    if dry:
        with tempfile.NamedTemporaryFile("w", prefix="startnotebook-run-", suffix=".yaml") as stream:
            yaml.safe_dump({"run": run}, stream)
            stream.flush()
            yield stream.name
        return
    session.prepare()
    path = session.private / "runs" / f".config-{os.getpid()}.yaml"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_private(path, yaml.safe_dump({"run": run}))
    try:
        yield str(path)
    finally:
        path.unlink(missing_ok=True)
