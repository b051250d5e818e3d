"""A project's Python environments as the session's kernels: ``kernels/NAME/requirements.txt``.

Each is a virtual environment with ipykernel and the recipe's packages, built by the workflow
next to the images as ``<image_dir>/kernels/NAME-<digest>`` (the digest of the recipe and the
Python it is built with: an unchanged one is never built again), with pip and the site's package
index (through ``container.build_proxy`` where the build runs on a node without a way out). The
recipe is staged first (``kernels/recipes/NAME-<digest>``, with build.json saying the name, the
Python and the proxy), so that the build, a batch job under ``--profile slurm``, needs nothing
but that folder. The environment carries its kernel spec (``share/jupyter/kernels/NAME``), which
the session's server offers as kernel "NAME".

The Python is the one the session's kernels run with: this tool's own interpreter's base (a
virtual environment of a virtual environment is one of its base interpreter), here Debian's.
A venv is not relocatable, so it is built where it stays, and a marker written last (``.built``,
the rule's output) says it is whole: a build that died halfway is removed and done again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentBuildError, InvalidRequest
from .backends import job_id_here
from .staging import one_build_of, stage

RECIPE_FILE = "requirements.txt"
BUILT = ".built"
#: What every environment gets besides its recipe: the kernel itself.
KERNEL_PACKAGES = ("ipykernel",)


@dataclass(frozen=True)
class Environment:
    """One of a session's project environments: its recipe and where it is (to be) built."""

    name: str
    recipe: Path  # the project's kernels/NAME folder
    path: Path  # <image_dir>/kernels/NAME-<digest>
    python: str

    @property
    def marker(self) -> Path:
        return self.path / BUILT

    @property
    def staged(self) -> Path:
        return self.path.parent / "recipes" / self.path.name

    @property
    def kernel_dir(self) -> Path:
        """Where the environment's kernel spec is: a ``kernels`` folder as Jupyter reads one."""
        return self.path / "share" / "jupyter" / "kernels"

    @property
    def built(self) -> bool:
        return self.marker.is_file()


def kernel_python() -> str:
    """The Python a project's environments are built with, without a container."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def recipe_digest(recipe: Path, python: str) -> str:
    digest = hashlib.sha256()
    for part in ((recipe / RECIPE_FILE).read_bytes(), python.encode(), " ".join(KERNEL_PACKAGES).encode()):
        digest.update(part + b"\0")
    return digest.hexdigest()[:12]


def environment_of(image_dir: Path, recipe: Path, python: str) -> Environment:
    """The environment of the project's recipe folder ``recipe`` (kernels/NAME), checked."""
    if not (recipe / RECIPE_FILE).is_file():
        raise InvalidRequest(f"kernel {recipe.name}: the project has no {recipe.name}/{RECIPE_FILE} "
                             f"(looked for {recipe / RECIPE_FILE})")
    path = image_dir / "kernels" / f"{recipe.name}-{recipe_digest(recipe, python)}"
    return Environment(recipe.name, recipe, path, python)


def stage_recipe(environment: Environment, proxy: str | None, log: Path) -> None:
    """Copy the recipe with its build settings where the build (maybe a batch job) finds them."""
    stage({RECIPE_FILE: environment.recipe / RECIPE_FILE},
          {"name": environment.name, "python": environment.python, "proxy": proxy}, environment.staged)
    log.write_text(f"staged {environment.recipe} as {environment.staged}\n")


def build(staged: Path, marker: Path, log_path: Path) -> None:
    """Build the environment of the ``staged`` recipe, whose marker is ``marker``: once, however
    many launches ask at the same time (a lock per environment)."""
    dest = marker.parent
    with one_build_of(dest):
        if marker.is_file():
            log_path.write_text(f"{dest} was built meanwhile\n")
            return
        shutil.rmtree(dest, ignore_errors=True)  # what a build that died halfway left
        try:
            _build(staged, dest, log_path)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise


def _build(staged: Path, dest: Path, log_path: Path) -> None:
    settings = json.loads((staged / "build.json").read_text())
    env = dict(os.environ)
    if settings.get("proxy"):
        env.update(http_proxy=settings["proxy"], https_proxy=settings["proxy"])
    python = dest / "bin" / "python"
    commands = [
        [settings["python"], "-m", "venv", str(dest)],
        [str(python), "-m", "pip", "install", "--no-cache-dir", "--no-warn-script-location", "--quiet",
         *KERNEL_PACKAGES, "-r", str(staged / RECIPE_FILE)],
    ]
    with open(log_path, "w") as log:
        log.write(f"building {dest} in job {job_id_here() or 'none'} on {socket.gethostname()}\n")
        for command in commands:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            if subprocess.run(command, stdout=log, stderr=log, env=env, stdin=subprocess.DEVNULL).returncode:
                raise EnvironmentBuildError(f"building the environment of kernel {settings['name']} failed at "
                                     f"{' '.join(command[:4])} ... (see {log_path})")
    write_kernel_spec(dest, settings["name"])
    (dest / BUILT).write_text(json.dumps({"name": settings["name"], "digest": dest.name.rsplit("-", 1)[1]}) + "\n")


def write_kernel_spec(dest: Path, name: str) -> None:
    """The environment's kernel spec, as ``ipykernel install`` writes one."""
    spec = dest / "share" / "jupyter" / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(dest / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name, "language": "python",
        "metadata": {"debugger": True, "startnotebook": {"environment": str(dest)}},
    }, indent=1) + "\n")
