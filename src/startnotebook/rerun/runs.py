"""Rerunning a declared session: its notebooks executed top to bottom, one batch job each.

The target ``executed_NAME`` (workflow/rules/run.smk; ``startnotebook run NAME`` runs it) asks for,
per notebook of the session (a path in its folder, e.g. ``analysis.ipynb``)::

    <session folder>/executed/<path>.ipynb   the executed notebook (papermill)
    <session folder>/executed/<path>.html    the same as HTML (nbconvert), figures included
    <session folder>/executed/<path>.json    how it ran (schemas/run.schema.json)

``executed/`` mirrors each notebook's path in the session folder, so two notebooks of one name
never collide. Snakemake's rerun rules decide what runs: its input is the session folder's copy
of the notebook and a request (``.startnotebook/runs/<path>.json``: parameters, image) that a
local rule rewrites only when its parameters change, so an unchanged notebook with unchanged
parameters and image runs nothing. The batch job needs nothing but those two files: under
``--profile slurm`` it runs on a compute node, in a Snakemake that knows no project.

A notebook that fails keeps what it did as ``executed/<path>.failed.ipynb`` and says why in
``executed/<path>.failed.json`` (Snakemake removes a failed job's declared outputs).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InvalidRequest, NotebookFetchError, StartNotebookError
from ..jobs.backends import job_id_here
from ..jobs.containers import get_runtime
from ..jobs.environments import Environment
from ..jobs.job import Container, container_run_in, session_environment
from ..launch.launching import notebook_name
from ..sessions.records import write_json
from ..settings.reading import message, schema_errors, where
from ..settings.session_settings import SessionSettings

EXECUTED = "executed"
RECORD_SCHEMA = "run.schema.json"
#: The rule's wildcards: a session folder (absolute, no executed/ or .startnotebook/ in it) and
#: a notebook's path in it without ".ipynb" (never one of our own outputs).
FOLDER_PATTERN = r"/(?:(?!/executed/|/\.startnotebook/).)+"
PATH_PATTERN = r"(?!executed/|\.startnotebook/)[^\n]+"


class NotebookFailed(StartNotebookError):
    """A cell of a notebook raised (or the notebook could not be executed at all)."""


@dataclass(frozen=True)
class Outputs:
    """Where one notebook's run goes, in its session folder."""

    folder: Path
    path: str  # the notebook's path in the folder, without ".ipynb"

    def executed(self, suffix: str) -> Path:
        return self.folder / EXECUTED / f"{self.path}{suffix}"

    notebook = property(lambda self: self.executed(".ipynb"))
    html = property(lambda self: self.executed(".html"))
    record = property(lambda self: self.executed(".json"))
    failed_notebook = property(lambda self: self.executed(".failed.ipynb"))
    failed_record = property(lambda self: self.executed(".failed.json"))

    @property
    def declared(self) -> list[str]:
        return [str(self.notebook), str(self.html), str(self.record)]


# --- what a run of a session is -------------------------------------------------------------------
def notebook_paths(settings: SessionSettings, folder: Path, named: list[str]) -> list[str]:
    """The notebooks a run executes, as paths in the session folder: those named (relative to
    the folder, or absolute inside it), else the ones the session brings."""
    if named:
        paths = [_in_folder(folder, Path(name)) for name in named]
    else:
        paths = [notebook_name(source) for source in settings.notebooks]
    if not paths:
        raise InvalidRequest(f"session {settings.name} declares no notebooks (its row's notebooks "
                             "column is empty); name some with --notebook")
    for path in paths:
        if not path.endswith(".ipynb"):
            raise InvalidRequest(f"{path} of session {settings.name} is not a notebook (.ipynb)")
    return list(dict.fromkeys(paths))


def _in_folder(folder: Path, name: Path) -> str:
    path = name if name.is_absolute() else folder / name
    try:
        relative = Path(os.path.normpath(path)).relative_to(folder)
    except ValueError:
        raise InvalidRequest(f"notebook {name} is not in the session folder {folder}") from None
    if relative.parts[:1] in ((EXECUTED,), (".startnotebook",)):
        raise InvalidRequest(f"notebook {name} is one of the run's own files, not a notebook to run")
    return str(relative)


def missing_notebooks(settings: SessionSettings, folder: Path, paths: list[str]) -> dict[str, str | None]:
    """Notebooks not in the session folder: path -> the source to copy it from (None: none)."""
    sources = {notebook_name(source): source for source in settings.notebooks}
    return {path: sources.get(path) for path in paths if not (folder / path).exists()}


def check_placeable(name: str, missing: dict[str, str | None]) -> None:
    """One line before any job: a notebook that is nowhere, or only on the web."""
    for path, source in missing.items():
        if source is None:
            raise NotebookFetchError(f"notebook {path} of session {name} does not exist in its folder")
        if "://" in source:
            raise NotebookFetchError(f"notebook {source} of session {name} is not in its folder yet: "
                                     f"launch the session once (startnotebook --name {name}) to fetch it")
        if not Path(source).is_file():
            raise NotebookFetchError(f"notebook {source} of session {name} cannot be read (no such file)")


def place(folder: Path, missing: dict[str, str]) -> None:
    """Copy the session's notebooks into its folder where missing, as a launch does; one there
    is never replaced (the user's edits win)."""
    from ..launch.steps import _copy_new

    for path, source in missing.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        try:
            _copy_new(source, str(folder / path))
        except FileExistsError:
            continue


def parameters_of(fields: dict, overrides: dict) -> dict:
    """The row's ``parameters`` with the command's ``--param`` values on top."""
    return {**(fields.get("parameters") or {}), **overrides}


def request(name: str, path: str, parameters: dict, container: Container, timeout: int | None,
            kernels: tuple[Environment, ...] = ()) -> dict:
    """What one notebook's job runs: its parameters, where, for how long at most, with which of
    the project's environments as kernels (the rerun rules compare it)."""
    return {"session": name, "notebook": f"{path}.ipynb", "parameters": parameters, "timeout": timeout,
            "container": {"runtime": container.runtime, "image": container.image,
                          "python": container.python, "binds": list(container.binds),
                          "environments": container.environments},
            # Jupyter data folders whose kernels/ hold the environments' specs, as the run sees them.
            "kernels": [str(environment.kernel_dir.parent) for environment in kernels]}


def run_timeout(fields: dict, override: int | None) -> int | None:
    """Seconds the whole notebook may take: the command's, else the row's (None: no bound but
    the job's wall time)."""
    return override or fields.get("run_timeout")


def job_minutes(flavour_minutes: int, timeout: int | None) -> int:
    """The job's --time: the flavour's, and at least the run timeout with a minute to spare
    (so that the run, not SLURM, ends a notebook past it, and says so)."""
    return max(flavour_minutes, -(-timeout // 60) + 1) if timeout else flavour_minutes


# --- the job ---------------------------------------------------------------------------------------
def write_request(wanted: dict, path: str, log: str) -> None:
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_json(Path(path), wanted)
    Path(log).write_text(f"request of {wanted['notebook']}: parameters {json.dumps(wanted['parameters'])}, "
                         f"image {wanted['container']['image'] or 'none'}\n")


def image_digest(image: str | None) -> str | None:
    """The recipe digest in a built image's name (notebook-<digest>); None for another image."""
    name = Path(image).name if image else ""
    return name.removeprefix("notebook-") if name.startswith("notebook-") else None


def _inner_command(wanted: dict, folder: Path, source: Path, output: Path) -> tuple[list[str], dict]:
    """The command that executes the notebook where its kernel runs, and its environment: the
    interactive session's (job.py): HOME and the working directory are the session folder."""
    arguments = ["-P", "-m", "startnotebook.rerun.executing", str(source), str(output),
                 json.dumps(wanted["parameters"])]
    spec, kernels = wanted["container"], wanted.get("kernels") or []
    if spec["runtime"] == "none":
        env = {**os.environ, **session_environment(folder)}
        if kernels:  # papermill finds a notebook's kernel by name where Jupyter looks
            env["JUPYTER_PATH"] = os.pathsep.join(kernels)
        return [sys.executable, *arguments], env
    container = Container(spec["runtime"], spec["image"], spec["python"], tuple(spec["binds"]),
                          spec.get("environments"))
    runtime = get_runtime(container.runtime)
    runtime.check(container.image)
    run = container_run_in(container, folder)
    if kernels:
        run = replace(run, env={**run.env, "JUPYTER_PATH": os.pathsep.join([run.env["JUPYTER_PATH"], *kernels])})
    return runtime.wrap(run, [container.python, *arguments]), dict(os.environ)


def execute(request_file: str, source: str, outputs: Outputs, log: str) -> None:
    """The rule's action: execute the notebook, keep its HTML and its record; a failure raises
    NotebookFailed with one line naming the notebook and the cell."""
    wanted = json.loads(Path(request_file).read_text())
    folder = outputs.folder
    command, env = _inner_command(wanted, folder, Path(source), outputs.notebook)
    started = time.time()
    with open(log, "w") as stream:
        returncode, stdout = _run_within(command, folder, env, stream, wanted.get("timeout"))
    ended = time.time()
    versions = _last_json_line(stdout)
    record = {
        "session": wanted["session"], "notebook": wanted["notebook"],
        "image": {"path": wanted["container"]["image"], "digest": image_digest(wanted["container"]["image"])}
        if wanted["container"]["runtime"] != "none" else None,
        "parameters": wanted["parameters"], "job_id": job_id_here() or None,
        "node": socket.gethostname(), "started": started, "ended": ended, "exit": returncode,
        "kernel": _kernel(outputs.notebook, versions), "failed_cell": None, "error": None,
    }
    if returncode == TIMED_OUT:
        _fail(record, outputs, log, f"ran past its run timeout of {wanted['timeout']} s and was stopped")
    if returncode != 0:
        _fail(record, outputs, log)
    for stale in (outputs.failed_notebook, outputs.failed_record):
        stale.unlink(missing_ok=True)
    _write_html(outputs.notebook, outputs.html)
    write_record(outputs.record, record)


#: The exit status recorded for a run stopped at its timeout (as timeout(1) has it).
TIMED_OUT = 124
#: Seconds a stopped run gets to end (its kernel too) before it is killed.
GRACE = 5


def _run_within(command: list[str], folder: Path, env: dict, log, timeout: int | None) -> tuple[int, str]:
    """Run ``command`` for ``timeout`` seconds at most (past it: stopped, status TIMED_OUT). It
    stays in our process group, so that Ctrl-C and scancel reach it as they reach us."""
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        return TIMED_OUT, ""
    finally:
        if process.returncode is None:  # we are being stopped ourselves: it goes with us
            _stop(process)
    return process.returncode, stdout


def _stop(process: subprocess.Popen) -> None:
    """TERM (executing.py then shuts its kernel down), KILL after GRACE seconds. A kernel left
    by a killed run ends by itself: it watches its parent (JPY_PARENT_PID)."""
    process.terminate()
    try:
        process.communicate(timeout=GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _last_json_line(stdout: str) -> dict | None:
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def _kernel(executed: Path, versions: dict | None) -> dict | None:
    """The kernel's Python (as the kernel itself reported it) and its environment's packages."""
    if versions is None:
        return None
    try:
        language = json.loads(executed.read_text()).get("metadata", {}).get("language_info", {})
    except (OSError, json.JSONDecodeError):
        language = {}
    return {"python": language.get("version") or versions["python"], "packages": versions["packages"]}


def _fail(record: dict, outputs: Outputs, log: str, why: str | None = None) -> None:
    """Keep the partly executed notebook where Snakemake leaves it, say which cell failed."""
    notebook = record["notebook"]
    cell = None
    if outputs.notebook.exists():
        os.replace(outputs.notebook, outputs.failed_notebook)
        if why is None:
            cell, error = failed_cell(json.loads(outputs.failed_notebook.read_text()))
            why = f"failed at cell {cell}: {error}" if cell else "failed"
    why = why or f"could not be executed: {_last_line(log)}"
    record.update(failed_cell=cell, error=f"notebook {notebook} of session {record['session']} {why}")
    write_record(outputs.failed_record, record)
    raise NotebookFailed(record["error"])


def _last_line(log: str) -> str:
    lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


#: Cells papermill adds: the parameters it injects, the banner it puts above an error.
ADDED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def failed_cell(executed: dict) -> tuple[int | None, str]:
    """The failing cell's number as the user counts the cells of their notebook (1-based, the
    cells papermill added not counted) and the error's last line."""
    number = 0
    for cell in executed.get("cells", []):
        if ADDED_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        number += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return number, f"{output.get('ename')}: {output.get('evalue')}"
    return None, "no cell shows an error"


def _write_html(executed: Path, html: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    html.write_text(body, encoding="utf-8")


def write_record(path: Path, record: dict) -> None:
    problem = schema_errors(record, RECORD_SCHEMA)
    if problem is not None:
        raise StartNotebookError(f"run record {path} is invalid at {where(problem)}: {message(problem)}")
    write_json(path, record)


def failures_since(outputs: list[Outputs], since: float) -> list[str]:
    """The one-line reasons of the notebooks that failed in a run started at ``since``."""
    found = []
    for output in outputs:
        try:
            if output.failed_record.stat().st_mtime >= since:
                found.append(json.loads(output.failed_record.read_text())["error"])
        except (OSError, json.JSONDecodeError, KeyError):
            continue
    return found
