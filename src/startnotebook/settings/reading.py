"""Reading what a user or a site wrote: YAML files, validated against ``schemas/``, and whole
numbers in ASCII digits. Every error names the file or the field, in one line."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .. import resources
from ..errors import ConfigError
from ..quick_imports import skip_format_checkers_a_launch_does_not_use


def load_yaml(path: str | Path) -> dict:
    try:
        with open(path) as stream:
            loaded = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid YAML: {problem}") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping")
    return loaded


def schema_errors(data, schema: str):
    """The most relevant way ``data`` breaks ``schemas/<schema>``, or None if it does not.

    jsonschema, as snakemake.utils.validate uses it (Draft 2020-12, $refs to the other files of
    schemas/), but keeping the failing field: snakemake.utils.validate folds the error into a
    message of many lines, and a user's error is one line naming the field.
    """
    skip_format_checkers_a_launch_does_not_use()
    import jsonschema
    from referencing import Registry, Resource

    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(load_yaml(resources.schema(uri.rsplit("/", 1)[-1])))

    validator = jsonschema.Draft202012Validator(load_yaml(resources.schema(schema)),
                                                registry=Registry(retrieve=retrieve),
                                                format_checker=jsonschema.FormatChecker())
    return jsonschema.exceptions.best_match(validator.iter_errors(data))


def where(error) -> str:
    return "/".join(str(part) for part in getattr(error, "absolute_path", ())) or "top level"


def message(error) -> str:
    return getattr(error, "message", str(error)).splitlines()[0]


def ascii_number(text: str) -> int | None:
    """The whole number ``text`` writes in ASCII digits, or None: ``str.isdigit`` and ``int``
    also take "²", "①" or "٣" (and int would read "٣" as 3)."""
    return int(text) if ASCII_DIGITS.fullmatch(text) else None


ASCII_DIGITS = re.compile(r"[0-9]+")
