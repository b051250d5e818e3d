"""Which Snakemake profile a launch uses (its site settings, site.yaml in it, config.py reads).

``--profile NAME`` (or ``SNAKEMAKE_PROFILE=NAME``) is looked up where Snakemake documents profiles:
the user's config folder (``~/.config/snakemake/NAME``), then the site's
(``/etc/xdg/snakemake/NAME``), then among the profiles shipped with startnotebook. Never in the
current directory, although Snakemake itself looks there first: a folder planted where a user
happens to stand must not decide how their job runs. A path (anything with a ``/``) is used as
the path it is.

A profile is a Snakemake profile (``config.yaml``: executor and Snakemake's own settings) plus
startnotebook's site settings in ``site.yaml`` next to it (see config.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import resources
from ..errors import ConfigError
from ..sessions.folders import ours_alone

PROFILE_FILES = ("profile.yaml", "config.yaml")


def _appdirs():
    # Snakemake's own notion of the user's and the site's config folders (platformdirs).
    from snakemake.common import get_appdirs

    return get_appdirs()


def search_path(name: str) -> list[Path]:
    """Where a bare profile name is looked for, in order."""
    dirs = _appdirs()
    return [Path(dirs.user_config_dir) / name, Path(dirs.site_config_dir) / name,
            resources.bundled_profile(name)]


def _is_profile(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in PROFILE_FILES)


def find_profile(name: str | None) -> Path | None:
    """The folder of profile ``name`` (None: ``$SNAKEMAKE_PROFILE``; neither: no profile)."""
    name = name or os.environ.get("SNAKEMAKE_PROFILE") or None
    if name is None or name == "none":
        return None
    if "/" in name:
        folder = Path(os.path.expanduser(name))
        if not _is_profile(folder):
            raise ConfigError(f"no Snakemake profile at {folder} (a folder with config.yaml)")
        return folder.resolve()
    candidates = search_path(name)
    for folder in candidates:
        if _is_profile(folder):
            return folder.resolve()
    raise ConfigError(f"no Snakemake profile {name!r} (looked in: {', '.join(map(str, candidates))})")


def given_to_snakemake() -> list[Path]:
    """The profiles the running ``snakemake`` command was given, found by Snakemake's own rules.

    For a workflow run by ``snakemake --profile slurm notebook_NAME``: the site settings come from
    the same folder as Snakemake's, whatever config files the user adds on the command line.
    """
    from snakemake.cli import get_argument_parser, get_profile_dir

    args, _ = get_argument_parser().parse_known_args()
    folders = []
    for profile in args.profile or []:
        if profile == "none":
            continue
        found = get_profile_dir(profile)
        if found is not None:
            folders.append(_trusted(found[0].resolve()))
    return folders


def _trusted(folder: Path) -> Path:
    """Snakemake takes a bare profile name from the current directory first: a profile folder
    someone else made or may change (planted where the user stands) must not set the site."""
    if not ours_alone(folder.stat(), or_root=True):
        raise ConfigError(f"refusing the profile {folder}: it belongs to another user or others may "
                          "change it (name the profile's path, or install it as ~/.config/snakemake/NAME)")
    return folder
