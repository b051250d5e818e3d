"""Where the workflow's own files are: the source checkout, or the copy inside an installed wheel.

The wheel carries workflow/ (Snakefile, rules, workflow profile), schemas, config, profiles and
envs under ``startnotebook/data``, laid out as in the checkout (see pyproject.toml).
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def root() -> Path:
    """The folder holding workflow/, schemas/, config/, profiles/ and envs/."""
    installed = _PACKAGE / "data"
    if (installed / "workflow" / "Snakefile").is_file():
        return installed
    checkout = _PACKAGE.parents[1]
    if (checkout / "workflow" / "Snakefile").is_file():
        return checkout
    raise FileNotFoundError(f"no workflow/Snakefile near {_PACKAGE}: the installation is incomplete")


def snakefile() -> Path:
    return root() / "workflow" / "Snakefile"


def workflow_profile() -> Path:
    return root() / "workflow" / "profiles" / "default"


def schema(name: str) -> Path:
    return root() / "schemas" / name


def default_config() -> Path:
    return root() / "config" / "config.yaml"


def bundled_profile(name: str) -> Path:
    return root() / "profiles" / name


def notebook_recipe() -> Path:
    """The recipe of the image shipped with startnotebook."""
    return root() / "envs" / "notebook"


def labextension() -> Path:
    """The built JupyterLab extension, as the wheel installs it (share/jupyter/labextensions)."""
    return Path(sys.prefix) / "share/jupyter/labextensions/startnotebook"


def package_parent() -> Path:
    """The folder holding this package (bound into containers)."""
    return _PACKAGE.parent
