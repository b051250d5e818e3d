"""Snakemake profiles: which one a launch uses, and the site config files it names.

A profile is found as Snakemake finds it (a path, or a name under ~/.config/snakemake or
/etc/xdg/snakemake), and else among the profiles shipped with startnotebook (profiles/NAME).
``SNAKEMAKE_PROFILE`` names the default, for ``snakemake`` and ``startnotebook`` alike, so a site
can make SLURM the default; without it the local backend is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import resources
from .errors import ConfigError
from .settings import load_yaml

PROFILE_FILES = ("config.yaml", "profile.yaml")


def _profile_file(folder: Path) -> Path | None:
    for name in PROFILE_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def find_profile(name: str | None) -> Path | None:
    """The folder of the profile ``name`` (None: the default from SNAKEMAKE_PROFILE, if any)."""
    name = name or os.environ.get("SNAKEMAKE_PROFILE")
    if not name:
        return None
    candidates = [Path(name)]
    if os.sep not in name:
        config_home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
        # Snakemake's own places first, so that a user's or a site's copy wins over ours.
        candidates += [
            config_home / "snakemake" / name,
            Path("/etc/xdg/snakemake") / name,
            resources.bundled_profile(name),
        ]
    for folder in candidates:
        if folder.is_dir() and _profile_file(folder):
            return folder.resolve()
    raise ConfigError(f"no Snakemake profile {name!r} (looked in: {', '.join(map(str, candidates))})")


def configfiles(profile: Path | None) -> list[Path]:
    """The config files the profile adds to the workflow config (its `configfile(s)` entry)."""
    if profile is None:
        return []
    entries = load_yaml(_profile_file(profile))
    named = entries.get("configfiles", entries.get("configfile", []))
    if isinstance(named, str):
        named = [named]
    files = [profile / os.path.expanduser(name) for name in named]
    for path in files:
        if not path.is_file():
            raise ConfigError(f"profile {profile} names a config file that does not exist: {path}")
    return files
