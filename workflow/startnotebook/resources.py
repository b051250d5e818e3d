"""Where the workflow's own files are: the source checkout, or the copy inside an installed wheel.

The wheel carries Snakefile, workflow/rules, schemas, config, profiles and envs under
``startnotebook/data`` with the same relative layout as the checkout (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def workflow_root() -> Path:
    """The folder holding the Snakefile."""
    installed = _PACKAGE / "data"
    if (installed / "Snakefile").is_file():
        return installed
    checkout = _PACKAGE.parents[1]
    if (checkout / "Snakefile").is_file():
        return checkout
    raise FileNotFoundError(f"no Snakefile next to {_PACKAGE}: the installation is incomplete")


def snakefile() -> Path:
    return workflow_root() / "Snakefile"


def schema(name: str) -> Path:
    return workflow_root() / "schemas" / name


def default_config() -> Path:
    return workflow_root() / "config" / "config.yaml"


def bundled_profile(name: str) -> Path:
    return workflow_root() / "profiles" / name


def package_parent() -> Path:
    """The folder to put on PYTHONPATH so that a job can import this package."""
    return _PACKAGE.parent
