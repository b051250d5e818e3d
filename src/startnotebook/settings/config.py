"""The site's settings: where servers run, the flavour table (cores, memory, wall time), the
container, TLS, the clock's lead times and where session folders live.

``config/config.yaml`` as shipped, with the profile's ``site.yaml`` merged on top, validated
against ``schemas/config.schema.yaml`` once per process. A session (a row of a project's sheet, an
entry of ``sessions:``, or one command's options) picks among what the site offers
(session_settings.py); it cannot change the site's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import resources
from ..errors import ConfigError, InvalidRequest
from ..sessions.folders import expand
from .reading import load_yaml, message, schema_errors, where


#: A profile's site settings, beside Snakemake's own config.yaml.
SITE_FILE = "site.yaml"


# --- the site ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flavour:
    """A flavour's resources, in every backend's terms, and its options for the batch system."""

    name: str
    cpus_per_task: int
    mem_mb: int
    runtime: int  # wall-time limit, minutes
    #: The flavour's settings for the site's batch system, named as the site writes them (SLURM:
    #: slurm_partition, slurm_account, slurm_extra): its backend alone reads them.
    batch_options: Mapping[str, object] = field(default_factory=dict, hash=False)
    #: Environment modules every session of the flavour loads (jobs/modules.py).
    modules: tuple[str, ...] = ()
    #: GPUs the job asks for (0: none), of ``gpu_type`` if given (a GRES type the site names, e.g.
    #: "a100"); the backend maps them to its own words (SLURM: ``--gres=gpu[:type]:N``).
    gpus: int = 0
    gpu_type: str | None = None

    def gpus_text(self) -> str:
        """"1 GPU", "2 GPUs of type a100", or "no GPU", for the user to read."""
        if not self.gpus:
            return "no GPU"
        kind = f" of type {self.gpu_type}" if self.gpu_type else ""
        return f"{self.gpus} GPU{'' if self.gpus == 1 else 's'}{kind}"


#: What a flavour says of its resources (every backend's words); every other setting of it but its
#: modules is a batch option.
RESOURCES = ("cpus_per_task", "mem_mb", "runtime", "gpus", "gpu_type")


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
    #: Seconds between a session's lookups of its job's end, where the batch system can say it.
    wall_time_recheck: int = 600
    #: Environment modules every session loads, and the module command's init script for bash.
    modules: tuple[str, ...] = ()
    module_init: Path | None = None

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
    site_file = _site_file(profile)
    if site_file is not None:
        settings = _merge(settings, load_yaml(site_file))
    problem = schema_errors(settings, "config.schema.yaml")
    if problem is not None:
        origin = site_file or resources.default_config()
        raise ConfigError(f"invalid site settings in {origin} at {where(problem)}: {message(problem)}")
    # The batch system's settings for every flavour are the section named after the backend.
    batch_defaults = settings.get(settings["backend"], {})
    flavours = {name: _flavour(name, values, batch_defaults) for name, values in settings["flavours"].items()}
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
        modules=tuple(settings.get("modules", ())),
        module_init=_path(settings["module_init"], "module_init"),
    )


def _flavour(name: str, values: dict, batch_defaults: dict) -> Flavour:
    resources = {key: values[key] for key in RESOURCES if key in values}
    options = {key: value for key, value in values.items() if key not in (*RESOURCES, "modules")}
    return Flavour(name=name, **resources, batch_options={**batch_defaults, **options},
                   modules=tuple(values.get("modules", ())))


def _site_file(profile: Path | None) -> Path | None:
    """The profile's site settings, if it has any."""
    if profile is None:
        return None
    path = profile / SITE_FILE
    return path if path.is_file() else None


def _path(configured: str | None, setting: str) -> Path | None:
    return expand(configured, setting) if configured else None
