"""A project's declared sessions: config/config.yaml and its sessions sheet, config/sessions.tsv.

A project is laid out as Snakemake's workflow template lays out a workflow that uses another one
as a module (``startnotebook init`` writes it)::

    workflow/Snakefile               module startnotebook (the installed workflow), use rule *
    workflow/profiles/default/       what every run needs (Snakemake's threads, one core)
    config/config.yaml               sessions_sheet: config/sessions.tsv (and/or sessions: {...})
    config/sessions.tsv              name, flavor, kernel_timeout, notebook_timeout, image, notebooks,
                                     parameters, run_timeout (of a run: startnotebook run NAME)

A project declares sessions only: the site's settings (backend, flavours, folders, container)
come from the profile, and a project's config that names one is refused.
"""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import yaml

from ..errors import ConfigError, InvalidRequest
from ..sessions.folders import who_else_may_change
from ..sessions.names import check_name
from .reading import ascii_number, load_yaml, message, schema_errors, where

CONFIG = Path("config") / "config.yaml"
SHEET = Path("config") / "sessions.tsv"
FIELDS = ("name", "flavor", "kernel_timeout", "notebook_timeout", "tls", "image", "notebooks", "parameters",
          "run_timeout", "modules", "kernels")
#: Columns that hold a list, separated by commas.
LIST_FIELDS = ("notebooks", "modules", "kernels")
INTEGER_FIELDS = ("kernel_timeout", "notebook_timeout", "run_timeout")
SITE_KEYS = ("backend", "sessions_root", "url_timeout", "login_host", "nodes_reachable", "tls",
             "slurm", "container", "flavours", "session_defaults", "warnings",
             "save_before_wall_time", "wall_time_recheck", "modules", "module_init")


def declarations(config: dict, base: Path, site=None) -> dict[str, tuple[dict, Path]]:
    """The sessions ``config`` declares (name -> (fields, folder relative paths start from))."""
    for key in config:
        if key in SITE_KEYS:
            raise ConfigError(f"config key {key!r} is a site setting, not a project's: it comes from "
                              "the profile's site.yaml")
    problem = schema_errors(dict(config), "project.schema.yaml")
    if problem is not None:
        raise ConfigError(f"invalid project config at {where(problem)}: {message(problem)}")
    declared: dict[str, tuple[dict, Path]] = {}
    sheet = config.get("sessions_sheet")
    if sheet:
        path = base / sheet
        if path.exists():
            check_ours(path, "sessions sheet")
        for name, fields in read_sheet(path, site).items():
            declared[name] = (fields, base)
    for name, fields in (config.get("sessions") or {}).items():
        check_name(name)
        declared[name] = (dict(fields or {}), base)
    return declared


def read_sheet(path: Path, site=None) -> dict[str, dict]:
    """The rows of a sessions sheet, checked: a bad one is named by its line and column."""
    import pandas

    try:
        table = pandas.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except FileNotFoundError:
        raise ConfigError(f"sessions sheet {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"sessions sheet {path} cannot be read: {str(error).splitlines()[0]}") from None
    table.columns = [column.strip() for column in table.columns]
    unknown = [column for column in table.columns if column not in FIELDS]
    if unknown:
        raise InvalidRequest(f"{path}, column {unknown[0]!r}: not a session field "
                             f"(the columns are: {', '.join(FIELDS)})")
    sessions: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for index, row in enumerate(table.to_dict("records")):
        line = index + 2  # the header is line 1
        fields = _row_fields(row)

        def bad(column: str, why: str, line: int = line) -> InvalidRequest:
            return InvalidRequest(f"{path} line {line}, column {column}: {why}")

        name = fields.get("name", "")
        try:
            check_name(name)
        except InvalidRequest as error:
            raise bad("name", str(error)) from None
        if name in sessions:
            raise bad("name", f"session {name!r} is declared twice (also on line {lines[name]})")
        problem = schema_errors(dict(fields), "session.schema.yaml")
        if problem is not None:
            column = next(iter(getattr(problem, "absolute_path", ())), "?")
            raise bad(column, message(problem))
        if site is not None and fields.get("flavor") is not None and fields["flavor"] not in site.flavours:
            raise bad("flavor", f"unknown flavour {fields['flavor']!r} (choose from: {', '.join(site.flavours)})")
        sessions[name], lines[name] = fields, line
    return sessions


def _row_fields(row: dict) -> dict:
    """A sheet row as session fields: empty cells left out, numbers and lists as they are meant."""
    fields = {}
    for column, cell in row.items():
        text = str(cell).strip()
        if not text:
            continue
        if column in INTEGER_FIELDS and ascii_number(text) is not None:
            # Anything else ("²", "٣", "ten") stays text, for the session schema to refuse.
            fields[column] = ascii_number(text)
        elif column == "tls":
            fields[column] = text.lower() in ("true", "yes", "1") if text.lower() in (
                "true", "yes", "1", "false", "no", "0") else text
        elif column in LIST_FIELDS:
            fields[column] = [item.strip() for item in text.split(",") if item.strip()]
        elif column == "parameters":
            fields[column] = _yaml_or_text(text)
        else:
            fields[column] = text
    return fields


def _yaml_or_text(text: str):
    """A cell holding YAML (a run's parameters, e.g. ``{n: 3, label: first}``) as what it says;
    text that is not YAML stays text, for the session schema to refuse."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _why_not_ours(path: Path) -> str | None:
    """Why the file read as ``path`` (a link's target) may hold what someone else wrote: another
    user's, open to a group or to everyone, not a file; None if it is the user's alone."""
    try:
        info = os.stat(path)
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return "is not a file"
    return who_else_may_change(info)


def check_ours(path: Path, what: str) -> None:
    """A project file that decides what the user's session runs (its image recipe, notebooks) is
    the user's alone, or it is refused: never silently skipped, so that a row is never quietly
    not the one the user wrote."""
    why = _why_not_ours(path)
    if why is not None:
        raise ConfigError(f"{what} {path} {why}: refusing to take sessions from it (make it yours "
                          "alone, e.g. chmod go-w, or launch from another folder)")


def _declared_names(config: dict, base: Path) -> set[str]:
    """The names a project declares, read without judging anything else (of files that are not
    to be used, only to tell whether the user meant one of their rows)."""
    sessions = config.get("sessions")
    names = set(sessions) if isinstance(sessions, dict) else set()
    sheet = config.get("sessions_sheet")
    if isinstance(sheet, str):
        try:
            with open(base / sheet, newline="") as stream:
                rows = csv.DictReader((line for line in stream if not line.startswith("#")), delimiter="\t")
                names |= {str(row.get("name") or "").strip() for row in rows}
        except (OSError, UnicodeDecodeError, csv.Error):
            pass
    return names


def _project_config(path: Path) -> dict | None:
    """A startnotebook project's config (one that declares sessions), or None: another
    workflow's config/config.yaml, or none, is none of ours."""
    if not os.path.isfile(path):
        return None
    try:
        config = load_yaml(path)
    except ConfigError:
        if _why_not_ours(path) is not None:
            return None  # someone else's file that is not even a config: not a project of the user's
        raise
    return config if {"sessions_sheet", "sessions"} & set(config) else None


def declaration_here(name: str, site=None) -> tuple[dict, Path | None]:
    """What the project in the current directory declares for ``name`` (nothing if none).

    A directory someone else prepared must not choose what the user's session runs (its image
    recipe, its notebooks): a project config or sheet that is not the user's alone is refused
    when it declares ``name``, in one line naming the file and why (as under ``snakemake``,
    where the sheet is refused). Another workflow's config/config.yaml is none of ours.
    """
    base = Path.cwd()
    config = _project_config(base / CONFIG)
    if config is None:
        return {}, None
    files = [(base / CONFIG, "project config")]
    if isinstance(config.get("sessions_sheet"), str) and (base / config["sessions_sheet"]).exists():
        files.append((base / config["sessions_sheet"], "sessions sheet"))
    if all(_why_not_ours(path) is None for path, _ in files):
        return declarations(config, base, site).get(name, ({}, None))
    if name in _declared_names(config, base):
        for path, what in files:
            check_ours(path, what)
    return {}, None  # not the user's alone, and not what they asked for: none of this launch's
