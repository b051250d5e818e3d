"""Site settings and session declarations, resolved into the settings of one session.

Two kinds of settings, kept apart on purpose:

* the **site** decides where servers run, the flavour table (cores, memory, wall time), the
  container, TLS and where session folders live: ``config/config.yaml`` as shipped, with the
  profile's ``site.yaml`` merged on top (``schemas/config.schema.yaml``);
* a **session** (a row of a project's sessions sheet, an entry of ``sessions:``, or the options of
  one ``startnotebook``) picks a flavour, its timeouts, TLS, an image recipe and notebooks
  (``schemas/session.schema.yaml``). It cannot change the site's settings.

Both are validated against the schemas once per process (see schema_errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import resources
from ..errors import ConfigError, InvalidRequest
from ..quick_imports import skip_format_checkers_a_launch_does_not_use
from ..sessions.folders import expand
from ..sessions.names import check_name
from . import profiles


# --- reading and validating ------------------------------------------------------------------
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


# --- the site ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flavour:
    name: str
    cpus_per_task: int
    mem_mb: int
    runtime: int  # wall-time limit, minutes
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_extra: str = ""


@dataclass(frozen=True)
class ContainerSite:
    #: Where built images go: always from the site settings (config/config.yaml holds the default).
    image_dir: Path
    runtime: str = "none"
    image: str | None = None  # a prebuilt image; None: built from a recipe
    python: str = "/usr/bin/python3"
    build_proxy: str | None = None
    binds: tuple[str, ...] = ()


@dataclass(frozen=True)
class TLSSite:
    enabled: bool = False
    certificate: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class NotebookFetch:
    """Bounds of fetching a session's notebooks from the web (see fetch.py)."""

    max_mb: int = 100  # the largest notebook fetched
    timeout: int = 30  # seconds to wait for a connection, and for each answer

    @property
    def max_bytes(self) -> int:
        return self.max_mb * 2**20


@dataclass(frozen=True)
class Site:
    """What the site decides, resolved and checked."""

    backend: str
    sessions_root: str  # as configured; folders.sessions_root() expands and checks it
    url_timeout: int
    login_host: str | None
    nodes_reachable: bool
    tls: TLSSite
    flavours: Mapping[str, Flavour]
    session_defaults: Mapping[str, object]
    container: ContainerSite
    #: The profile the settings came from (None: the shipped defaults alone).
    profile: Path | None = None
    notebook_fetch: NotebookFetch = NotebookFetch()
    #: Lead times (seconds) of the session's clock's warnings: before_wall_time, before_notebook_timeout.
    warnings: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: Seconds before the wall time's end at which a session saves its documents and ends itself.
    save_before_wall_time: int = 60
    #: Seconds between a SLURM session's lookups of its job's end.
    wall_time_recheck: int = 600

    def flavour(self, name: str) -> Flavour:
        try:
            return self.flavours[name]
        except KeyError:
            raise InvalidRequest(
                f"unknown flavour {name!r} (choose from: {', '.join(self.flavours)})"
            ) from None


def _merge(base: dict, override: dict) -> dict:
    from snakemake.utils import update_config

    merged = yaml.safe_load(yaml.safe_dump(base))  # a deep copy of plain data
    update_config(merged, override)
    return merged


def load_site(profile: Path | None = None) -> Site:
    """The shipped defaults with the profile's site.yaml on top, validated."""
    settings = load_yaml(resources.default_config())
    site_file = profiles.site_file(profile)
    if site_file is not None:
        settings = _merge(settings, load_yaml(site_file))
    problem = schema_errors(settings, "config.schema.yaml")
    if problem is not None:
        origin = site_file or resources.default_config()
        raise ConfigError(f"invalid site settings in {origin} at {where(problem)}: {message(problem)}")
    slurm = settings["slurm"]
    flavours = {
        name: Flavour(name=name, **{**slurm, **values}) for name, values in settings["flavours"].items()
    }
    container = dict(settings["container"])
    tls = settings["tls"]
    return Site(
        backend=settings["backend"],
        sessions_root=settings["sessions_root"],
        url_timeout=settings["url_timeout"],
        login_host=settings.get("login_host"),
        nodes_reachable=settings["nodes_reachable"],
        tls=TLSSite(tls.get("enabled", False), _path(tls.get("certificate"), "tls.certificate"),
                    _path(tls.get("key"), "tls.key")),
        flavours=flavours,
        session_defaults=dict(settings["session_defaults"]),
        container=ContainerSite(
            runtime=container.get("runtime", "none"),
            image=str(_path(container["image"], "container.image")) if container.get("image") else None,
            image_dir=_path(container["image_dir"], "container.image_dir"),
            python=container.get("python", "/usr/bin/python3"),
            build_proxy=container.get("build_proxy"),
            binds=tuple(container.get("binds", ())),
        ),
        profile=profile,
        notebook_fetch=NotebookFetch(**settings.get("notebook_fetch", {})),
        warnings={when: tuple(leads) for when, leads in settings.get("warnings", {}).items()},
        save_before_wall_time=settings["save_before_wall_time"],
        wall_time_recheck=settings["wall_time_recheck"],
    )


def _path(configured: str | None, setting: str) -> Path | None:
    return expand(configured, setting) if configured else None


# --- one session -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionSettings:
    """One session's settings: its declaration completed by the site's defaults, and checked."""

    name: str
    flavour: Flavour
    kernel_timeout: int
    notebook_timeout: int
    tls: bool = False
    recipe: Path | None = None  # the session's own image recipe (a folder like envs/notebook)
    notebooks: tuple[str, ...] = ()


def ascii_number(text: str) -> int | None:
    """The whole number ``text`` writes in ASCII digits, or None: ``str.isdigit`` and ``int``
    also take "²", "①" or "٣" (and int would read "٣" as 3)."""
    return int(text) if ASCII_DIGITS.fullmatch(text) else None


ASCII_DIGITS = re.compile(r"[0-9]+")


def check_timeout(option: str, value: object) -> int:
    """A timeout is a positive whole number of seconds."""
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    seconds = ascii_number(text)
    if seconds is None or seconds < 1:
        raise InvalidRequest(f"{option} must be a positive whole number of seconds, not {value!r}")
    return seconds


def session_settings(site: Site, name: str, declared: Mapping[str, object], base: Path | None = None,
                     options: Mapping[str, object] = {}) -> SessionSettings:
    """The settings of session ``name``: site defaults < ``declared`` < ``options``.

    ``declared`` comes from a project (already validated against the session schema; relative
    recipe and notebook paths are taken from ``base``); ``options`` are the command's, checked here
    with the option names the user typed.
    """
    check_name(name)
    fields = {**site.session_defaults, **{k: v for k, v in declared.items() if v is not None}}
    kernel_timeout = check_timeout("--kernel-timeout" if "kernel_timeout" in options else "kernel_timeout",
                                   options.get("kernel_timeout", fields["kernel_timeout"]))
    notebook_timeout = check_timeout(
        "--notebook-timeout" if "notebook_timeout" in options else "notebook_timeout",
        options.get("notebook_timeout", fields["notebook_timeout"]))
    flavour = site.flavour(str(options.get("flavor", fields["flavor"])))
    recipe = fields.get("image")
    return SessionSettings(
        name=name,
        flavour=flavour,
        kernel_timeout=kernel_timeout,
        notebook_timeout=notebook_timeout,
        # HTTPS if the site, the declaration or the command asks for it.
        tls=bool(site.tls.enabled or fields.get("tls") or options.get("tls")),
        recipe=_relative_to(base, recipe) if recipe else None,
        notebooks=tuple(_source(base, notebook) for notebook in fields.get("notebooks") or ()),
    )


def _relative_to(base: Path | None, path: str) -> Path:
    """A path of a project's (a recipe, a notebook): "~" expanded, relative to the project."""
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() or base is None else base / resolved


def _source(base: Path | None, notebook: str) -> str:
    """A notebook's URL as given, or its path made absolute."""
    if notebook.startswith(("http://", "https://")):
        return notebook
    return str(_relative_to(base, notebook))
