"""Launch records: the files one launch leaves in ``.startnotebook/launches/<id>/``.

    launch.json       what was launched: settings, backend, profile, when (written first)
    password          the launch's password (0600; removed when the session ends)
    proof_key         the key its server proves itself with (0600; removed when the session ends)
    jupyter_config.json   the server's settings: password hash, timeouts, where to hand over
    job.json          the backend's job: SLURM job id, or the local process
    start.json        written by the job as it starts: when, on which node
    handover.json     written by the job once its server listens: host, port, scheme, node
    connection.json   URL and password, once the URL answers (0600; removed when the session ends)
    end.json          how and when the session ended (written by the job, or by whoever finds out)
    activity.json     kept up to date by the server: kernels, terminals, idle since
    exit.json         written by the job as it exits: when

Every file is written whole or not at all (a temporary file renamed into place) and read
forgivingly: a file that is missing, empty or damaged (a full quota, a crash, or a shape other
than its schema's, ``schemas/records/<name>.schema.json``) reads as absent and marks the record as
damaged, so that a command can say so and carry on.

The server inside the job imports this module and writes records, reading hardly any: jsonschema
is imported only when a record is first read, and each schema compiled once.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SessionFolderError

PRIVATE_MODE = 0o600
LAUNCH_ID = re.compile(r"[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{6}")


def new_launch_id() -> str:
    """Sortable by time (UTC, to the microsecond: the latest launch is the last), unique by its
    random tail."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(3)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, atomically; the mode is set before any byte."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_MODE)
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except OSError as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SessionFolderError(f"cannot write {path}: {error.strerror or error}") from error


def write_json(path: Path, record: dict) -> None:
    write_private(path, json.dumps(record, indent=2) + "\n")


class Damaged(Exception):
    """A record file exists but cannot be read as what it should be."""


#: The record files with a schema of their own in schemas/records/ (by file name).
RECORD_SCHEMAS = frozenset(f"{name}.json" for name in (
    "launch", "job", "start", "handover", "connection", "end", "activity", "exit"))

#: Nothing of ours reads more than this; a bigger file is not one of our records.
MAX_RECORD_BYTES = 1 << 20


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None if there is none; Damaged if it is unreadable or, for a
    launch record file, not of its schema's shape."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_RECORD_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise Damaged(f"{path}: {error.strerror or error}") from error
    if len(data) > MAX_RECORD_BYTES:
        raise Damaged(f"{path}: larger than any record")
    try:
        record = json.loads(data.decode(), parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise Damaged(f"{path}: not JSON") from error
    if not isinstance(record, dict):
        raise Damaged(f"{path}: not a JSON object")
    if path.name in RECORD_SCHEMAS:
        problem = shape_problem(record, path.name)
        if problem:
            raise Damaged(f"{path}: {problem}")
    return record


def _no_constant(name: str):
    """NaN and Infinity are not JSON, and pass every bound of a schema: refused as damage."""
    raise ValueError(f"{name} is not a JSON number")


def shape_problem(record: dict, file_name: str) -> str | None:
    """How ``record`` breaks the schema of the record file ``file_name``, in one line; or None."""
    error = _validator(file_name).best_match_error(record)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}"[:200] if where else error.message[:200]


_validators: dict = {}


def _validator(file_name: str):
    """The compiled validator of one record file's schema, made once per process, when first
    needed (importing jsonschema costs; the server inside the job rarely reads a record)."""
    if file_name not in _validators:
        _validators[file_name] = _RecordValidator(file_name)
    return _validators[file_name]


class _RecordValidator:
    def __init__(self, file_name: str) -> None:
        from ..quick_imports import skip_iri_format_checker
        skip_iri_format_checker()
        import jsonschema

        from .. import resources

        schema_file = resources.schema("records") / file_name.replace(".json", ".schema.json")
        schema = json.loads(schema_file.read_text())
        # No format checker: the schemas say what they need with patterns (cheaper, and the
        # same wherever the record is read).
        self._validator = jsonschema.Draft202012Validator(schema)
        self._best_match = jsonschema.exceptions.best_match

    def best_match_error(self, record: dict):
        # Nearly every record is valid: is_valid stops at nothing to collect and sort, while
        # best_match ranks every error; it is asked only to word the damage of a bad record.
        if self._validator.is_valid(record):
            return None
        return self._best_match(self._validator.iter_errors(record))


@dataclass(frozen=True)
class LaunchRecord:
    """The files of one launch of a session."""

    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    # --- where ---------------------------------------------------------------------------------
    @property
    def launch_file(self) -> Path:
        return self.folder / "launch.json"

    @property
    def password_file(self) -> Path:
        return self.folder / "password"

    @property
    def proof_key_file(self) -> Path:
        """The key with which the launch's server proves it is this launch's (client.py)."""
        return self.folder / "proof_key"

    @property
    def jupyter_config_file(self) -> Path:
        return self.folder / "jupyter_config.json"

    @property
    def job_file(self) -> Path:
        return self.folder / "job.json"

    @property
    def job_script_file(self) -> Path:
        return self.folder / "job.sh"

    @property
    def start_file(self) -> Path:
        """Written by the job script as it starts: when the allocation began to be used."""
        return self.folder / "start.json"

    @property
    def handover_file(self) -> Path:
        return self.folder / "handover.json"

    @property
    def connection_file(self) -> Path:
        return self.folder / "connection.json"

    @property
    def end_file(self) -> Path:
        return self.folder / "end.json"

    @property
    def exit_file(self) -> Path:
        """Written by the job script as it exits: when the allocation stopped being used."""
        return self.folder / "exit.json"

    @property
    def activity_file(self) -> Path:
        """Kept up to date by the server: kernels, terminals, idle since (see server/app.py)."""
        return self.folder / "activity.json"

    @property
    def notebooks(self) -> Path:
        """Notebooks fetched for this launch, before they are put into the session folder."""
        return self.folder / "notebooks"

    # --- what ----------------------------------------------------------------------------------
    def _read(self, path: Path) -> dict | None:
        try:
            return read_json(path)
        except Damaged:
            return None

    def launch(self) -> dict | None:
        return self._read(self.launch_file)

    def job(self) -> dict | None:
        return self._read(self.job_file)

    def start(self) -> dict | None:
        return self._read(self.start_file)

    def handover(self) -> dict | None:
        return self._read(self.handover_file)

    def connection(self) -> dict | None:
        return self._read(self.connection_file)

    def end(self) -> dict | None:
        return self._read(self.end_file)

    def activity(self) -> dict | None:
        return self._read(self.activity_file)

    def exit(self) -> dict | None:
        return self._read(self.exit_file)

    def damage(self) -> list[str]:
        """The record files that exist but cannot be read."""
        damaged = []
        for path in (self.launch_file, self.job_file, self.handover_file, self.connection_file,
                     self.end_file):
            problem = self.damage_of(path)
            if problem:
                damaged.append(problem)
        return damaged

    def damage_of(self, path: Path) -> str | None:
        """What is wrong with one record file that exists but cannot be read; None if nothing."""
        try:
            read_json(path)
        except Damaged as error:
            return str(error)
        return None

    def password(self) -> str | None:
        try:
            return self.password_file.read_text().strip() or None
        except OSError:
            return None

    def proof_key(self) -> bytes | None:
        """The launch's proof key; None if there is none or it is not what credentials.py writes."""
        try:
            key = bytes.fromhex(self.proof_key_file.read_text().strip())
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        return key if len(key) >= 16 else None

    # --- ending --------------------------------------------------------------------------------
    def close(self, state: str, reason: str, ended: float | None = None) -> dict:
        """Record how the session ended (if nobody did yet) and remove its secrets."""
        end = self.end()
        if end is None:
            end = {"state": state, "reason": reason, "ended": ended or time.time()}
            try:
                write_json(self.end_file, end)
            except SessionFolderError:
                pass  # a full or read-only folder: the secrets go anyway
        self.forget_secrets()
        return end

    def forget_secrets(self) -> None:
        for path in (self.password_file, self.proof_key_file, self.connection_file):
            try:
                path.unlink()
            except OSError:
                pass  # gone already, or reported by whoever needs the file next
