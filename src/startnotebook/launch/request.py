"""A launch request (the command's options) resolved into a site, a session and its settings.

The options override what a project declares for the session (``startnotebook --name NAME`` run in
a project directory uses its row of config/sessions.tsv), which completes the site's defaults.
Everything is checked here, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..jobs.backends import get_backend
from ..sessions.names import check_name, random_name
from ..sessions.session import Session
from ..settings import profiles, project
from ..settings.config import Site, load_site
from ..settings.session_settings import SessionSettings, session_settings


@dataclass(frozen=True)
class LaunchRequest:
    name: str | None = None
    flavor: str | None = None
    kernel_timeout: str | None = None
    notebook_timeout: str | None = None
    profile: str | None = None
    tls: bool | None = None

    def options(self) -> dict:
        return {key: value for key, value in (
            ("flavor", self.flavor), ("kernel_timeout", self.kernel_timeout),
            ("notebook_timeout", self.notebook_timeout), ("tls", self.tls),
        ) if value is not None}


@dataclass(frozen=True)
class Resolved:
    site: Site
    settings: SessionSettings
    session: Session
    #: What the backend offers for the flavour's resources (None: nothing needed asking).
    offered: str | None = None


def load_profile_site(profile: str | None) -> Site:
    return load_site(profiles.find_profile(profile))


def resolve(request: LaunchRequest, create: bool) -> Resolved:
    """The request checked and completed; the session folder made (and checked) if ``create``."""
    site = load_profile_site(request.profile)
    name = check_name(request.name) if request.name is not None else random_name()
    declared, base = project.declaration_here(name, site)
    settings = session_settings(site, name, declared, base, request.options())
    # Before the session folder is made: a flavour the backend cannot serve (GPUs no partition
    # has) is refused in one line, and leaves nothing behind.
    offered = get_backend(site.backend).check_resources(settings.flavour)
    return Resolved(site, settings, Session.create(site, name) if create else Session.find(site, name),
                    offered)
