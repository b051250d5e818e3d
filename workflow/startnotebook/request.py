"""A launch request (the command's options) resolved against the site config."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

from . import profiles, settings
from .session import SessionPaths

NAME_ALPHABET = string.ascii_lowercase + string.digits


def random_name() -> str:
    return "notebook-" + "".join(secrets.choice(NAME_ALPHABET) for _ in range(8))


@dataclass(frozen=True)
class LaunchRequest:
    name: str = field(default_factory=random_name)
    flavor: str | None = None
    kernel_timeout: str | int | None = None
    notebook_timeout: str | int | None = None
    profile: str | None = None


@dataclass(frozen=True)
class ResolvedLaunch:
    settings: settings.SessionSettings
    paths: SessionPaths
    profile: Path | None
    configfiles: list[Path]
    declaration: dict


def resolve(request: LaunchRequest) -> ResolvedLaunch:
    """Check the request and compute the session's settings; writes nothing."""
    settings.check_name(request.name)
    profile = profiles.find_profile(request.profile)
    configfiles = profiles.configfiles(profile)
    site = settings.load_config(configfiles)
    defaults = site["session_defaults"]
    declaration = settings.declaration(
        request.name,
        request.flavor if request.flavor is not None else defaults["flavor"],
        settings.check_timeout("--kernel-timeout", _or(request.kernel_timeout, defaults["kernel_timeout"])),
        settings.check_timeout("--notebook-timeout", _or(request.notebook_timeout, defaults["notebook_timeout"])),
    )
    session = settings.resolve_session(settings.merge(site, declaration), request.name)
    return ResolvedLaunch(session, SessionPaths(Path(session.folder)), profile, configfiles, declaration)


def _or(value, default):
    return default if value is None else value
