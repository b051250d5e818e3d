"""Site config + a session's declaration -> the validated settings of one session.

The config is the workflow's config (config/config.yaml, a profile's site file, declared sessions);
``schemas/config.schema.yaml`` is its contract. The checks here add the messages a user reads.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import resources
from .errors import ConfigError, InvalidRequest

NAME_MAX = 64
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SessionSettings:
    """Everything the rules need to know about one session, resolved and checked."""

    name: str
    folder: str
    backend: str
    flavor: str
    cpus_per_task: int
    mem_mb: int
    runtime: int
    kernel_timeout: int
    notebook_timeout: int
    url_timeout: int
    # Batch-system settings, named as snakemake-executor-plugin-slurm names them.
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_extra: str = ""
    # The container the server runs in (see containers.py); runtime "none": no container.
    container_runtime: str = "none"
    container_image: str | None = None
    container_build: bool = False
    container_python: str = "/usr/bin/python3"
    container_binds: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_file(cls, path: str | Path) -> "SessionSettings":
        return cls(**json.loads(Path(path).read_text()))


# --- config ------------------------------------------------------------------------------
def load_yaml(path: str | Path) -> dict:
    try:
        with open(path) as stream:
            loaded = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping")
    return loaded


def merge(base: dict, override: dict) -> dict:
    """Deep merge, as Snakemake merges config files: mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(configfiles: list[Path] = ()) -> dict:
    """The workflow defaults with ``configfiles`` merged on top, validated."""
    config = load_yaml(resources.default_config())
    for path in configfiles:
        config = merge(config, load_yaml(path))
    validate_config(config)
    return config


def validate_config(config: dict) -> None:
    # Imported here: with its format checkers jsonschema costs ~0.8 s to import, and most steps
    # of a launch never validate anything.
    import jsonschema

    schema = load_yaml(resources.schema("config.schema.yaml"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return
    # A bad session name deserves the specific reason, not a regular expression.
    for name in (config.get("sessions") or {}):
        check_name(name)
    where = "/".join(str(part) for part in error.absolute_path) or "top level"
    raise ConfigError(f"invalid config at {where}: {error.message}")


# --- one session ---------------------------------------------------------------------------
def check_name(name: str) -> None:
    """Raise InvalidRequest unless ``name`` can safely be a folder name under sessions_root."""
    if not name:
        raise InvalidRequest("the session name is empty")
    shown = repr(name)
    if "/" in name:
        raise InvalidRequest(f"the session name {shown} contains '/'")
    if name.startswith("."):
        raise InvalidRequest(f"the session name {shown} starts with '.'")
    if _WHITESPACE_OR_CONTROL.search(name):
        raise InvalidRequest(f"the session name {shown} contains whitespace or a control character")
    if len(name) > NAME_MAX:
        raise InvalidRequest(f"the session name is longer than {NAME_MAX} characters")


def check_timeout(option: str, value: object) -> int:
    """A timeout is a positive whole number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidRequest(f"{option} must be a positive whole number of seconds, not {value!r}")
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidRequest(f"{option} must be a positive whole number of seconds, not {value!r}")
    return int(text)


def session_folder(config: dict, name: str) -> Path:
    return Path(os.path.expanduser(config["sessions_root"])) / name


def resolve_session(config: dict, name: str) -> SessionSettings:
    """The settings of the session ``name`` declared in ``config``."""
    check_name(name)
    declared = merge(config["session_defaults"], (config.get("sessions") or {}).get(name) or {})
    flavours = config["flavours"]
    flavor = declared["flavor"]
    if flavor not in flavours:
        raise InvalidRequest(f"unknown flavour {flavor!r} (choose from: {', '.join(flavours)})")
    # A flavour may name its own partition, account or extra options (e.g. a GPU partition).
    resources = merge(config.get("slurm") or {}, flavours[flavor])
    return SessionSettings(
        **container_settings(config.get("container") or {}),
        name=name,
        folder=str(session_folder(config, name)),
        backend=config["backend"],
        flavor=flavor,
        kernel_timeout=check_timeout("kernel timeout", declared["kernel_timeout"]),
        notebook_timeout=check_timeout("notebook timeout", declared["notebook_timeout"]),
        url_timeout=config["url_timeout"],
        **resources,
    )


def recipe_folder() -> Path:
    return resources.workflow_root() / "envs" / "notebook"


def container_settings(container: dict) -> dict:
    """The image is the site's prebuilt one, or the one the workflow builds from the recipe."""
    runtime = container.get("runtime", "none")
    if runtime == "none":
        return {}
    from .image import image_path

    prebuilt = container.get("image")
    image_dir = Path(os.path.expanduser(container.get("image_dir", "~/.cache/startnotebook/images")))
    return {
        "container_runtime": runtime,
        "container_image": prebuilt or str(image_path(image_dir, recipe_folder())),
        "container_build": not prebuilt,
        "container_python": container.get("python", "/usr/bin/python3"),
        "container_binds": list(container.get("binds", [])),
    }


def declaration(name: str, flavor: str, kernel_timeout: int, notebook_timeout: int) -> dict:
    """The config that declares one session, as a config file would."""
    return {
        "sessions": {
            name: {
                "flavor": flavor,
                "kernel_timeout": kernel_timeout,
                "notebook_timeout": notebook_timeout,
            }
        }
    }
