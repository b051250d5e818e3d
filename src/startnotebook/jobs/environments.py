"""A project's Python environments as the session's kernels: ``kernels/NAME/requirements.txt``.

Each is a virtual environment with ipykernel and the recipe's packages, built by the workflow
next to the images as ``<image_dir>/kernels/NAME-<digest>`` (the digest of the recipe and the
Python it is built with: an unchanged one is never built again), with pip and the site's package
index (through ``container.build_proxy`` where the build runs on a node without a way out). The
recipe is staged first (``kernels/recipes/NAME-<digest>``, with build.json saying the name, the
Python and the proxy), so that the build, a batch job under ``--profile slurm``, needs nothing
but that folder. The environment carries its kernel spec (``share/jupyter/kernels/NAME``), which
the session's server offers as kernel "NAME".

The Python is the one the session's kernels run with: without a container this tool's own
interpreter's base (a virtual environment of a virtual environment is one of its base
interpreter), here Debian's; in a container the image's (container.python), the build running
in the image with the site's environments folder (``<image_dir>/kernels``) bound at
KERNELS_MOUNT, where the session's server sees it too (containers.ContainerRun). A venv is not
relocatable, so it is built where it stays, as the session sees it, and a marker written last
(``.built``, the rule's output) says it is whole: a build that died halfway is removed and done
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, EnvironmentBuildError, InvalidRequest
from .backends import job_id_here
from .containers import IMAGE_PATH, KERNELS_MOUNT, ContainerRun, get_runtime
from .image import recipe_entries
from .staging import HOST_CA_BUNDLE, one_build_of, stage

if TYPE_CHECKING:
    from .job import Container

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
    #: The image it is built in and for (its Python is the image's), or None: no container.
    image: str | None = None
    runtime: str = "none"

    @property
    def seen_at(self) -> Path:
        """Where the session (its server and kernels) finds the environment."""
        return Path(KERNELS_MOUNT) / self.path.name if self.image else self.path

    @property
    def marker(self) -> Path:
        return self.path / BUILT

    @property
    def staged(self) -> Path:
        return self.path.parent / "recipes" / self.path.name

    @property
    def kernel_dir(self) -> Path:
        """Where the session's server finds the environment's kernel spec: a ``kernels`` folder
        as Jupyter reads one."""
        return self.seen_at / "share" / "jupyter" / "kernels"

    @property
    def built(self) -> bool:
        return self.marker.is_file()


def kernel_python() -> str:
    """The Python a project's environments are built with, without a container."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def recipe_digest(recipe: Path, python: str, image: str | None = None) -> str:
    digest = hashlib.sha256()
    parts = [(recipe / RECIPE_FILE).read_bytes(), python.encode(), " ".join(KERNEL_PACKAGES).encode()]
    if image is not None:  # another image is another Python, even at the same path
        parts.append(image.encode())
    for part in parts:
        digest.update(part + b"\0")
    return digest.hexdigest()[:12]


def environment_of(image_dir: Path, recipe: Path, container: Container | None = None) -> Environment:
    """The environment of the project's recipe folder ``recipe`` (kernels/NAME), checked, for
    a session in ``container`` (None or runtime "none": no container)."""
    if not (recipe / RECIPE_FILE).is_file():
        raise InvalidRequest(f"kernel {recipe.name}: the project has no {recipe.name}/{RECIPE_FILE} "
                             f"(looked for {recipe / RECIPE_FILE})")
    if container is None or container.runtime == "none":
        python, image, runtime = kernel_python(), None, "none"
    else:
        python, image, runtime = container.python, container.image, container.runtime
    path = image_dir / "kernels" / f"{recipe.name}-{recipe_digest(recipe, python, image)}"
    return Environment(recipe.name, recipe, path, python, image, runtime)


def of_session(image_dir: Path, kernels: tuple[Path, ...], container: Container,
               recipe: Path | None = None) -> tuple[tuple[Environment, ...], Container]:
    """A session's environments (its project's recipe folders ``kernels``) and its container
    with the site's folder of them bound, checked: for a launch and for a
    rerun alike."""
    wanted = tuple(environment_of(image_dir, kernel, container) for kernel in kernels)
    if wanted and container.runtime != "none":
        check_image(wanted, container.image, recipe)
        container = replace(container, environments=str(image_dir / "kernels"))
    return wanted, container


def image_problem(image: str | None, recipe: Path | None = None) -> str | None:
    """Why the session's image cannot hold the project's environments (no folder to bind them
    on), or None: read from a directory image, or from the recipe of one still to build; an
    image file (Apptainer's) is not judged."""
    root = Path(image) if image else None
    if root is not None and root.is_dir():
        missing = not (root / KERNELS_MOUNT.lstrip("/")).is_dir()
    elif recipe is not None and (recipe / "mount-points.txt").is_file():
        missing = KERNELS_MOUNT not in recipe_entries(recipe / "mount-points.txt")
    else:
        return None
    if missing:
        return (f"the image has no folder {KERNELS_MOUNT} to bind the project's environments on "
                "(a recipe's mount-points.txt makes it, as envs/notebook's does)")
    return None


def check_image(environments: tuple[Environment, ...], image: str | None, recipe: Path | None = None) -> None:
    """ConfigError now, before anything is written, if the session's environments cannot be
    seen in its image."""
    problem = image_problem(image, recipe) if environments else None
    if problem:
        raise ConfigError(f"kernels {', '.join(e.name for e in environments)}: {problem}")


def stage_recipe(environment: Environment, proxy: str | None, log: Path) -> None:
    """Copy the recipe with its build settings where the build (maybe a batch job) finds them."""
    stage({RECIPE_FILE: environment.recipe / RECIPE_FILE},
          {"name": environment.name, "python": environment.python, "proxy": proxy,
           "image": environment.image, "runtime": environment.runtime, "seen_at": str(environment.seen_at)},
          environment.staged)
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
        finally:
            (dest.parent / f".{dest.name}.ca.crt").unlink(missing_ok=True)


def _build(staged: Path, dest: Path, log_path: Path) -> None:
    settings = json.loads((staged / "build.json").read_text())
    proxies = {"http_proxy": settings["proxy"], "https_proxy": settings["proxy"]} if settings.get("proxy") else {}
    env = {**os.environ, **proxies}
    # The venv is built where the session sees it: in the image, its folder is bound there.
    seen_at = Path(settings.get("seen_at") or dest)
    variables = dict(proxies)
    if settings.get("image") and HOST_CA_BUNDLE.is_file():
        # The image's pip trusts what this host trusts, from a copy the container sees (the
        # image has no folder to bind the host's on); removed with the build's other scraps.
        shutil.copy(HOST_CA_BUNDLE, dest.parent / f".{dest.name}.ca.crt")
        variables["PIP_CERT"] = f"{seen_at.parent}/.{dest.name}.ca.crt"
    in_image = _in_image(settings, dest, variables)
    # The staged recipe is in the environments' folder too (kernels/recipes/), so seen there.
    recipe = seen_at.parent / staged.relative_to(dest.parent) / RECIPE_FILE
    commands = [
        in_image([settings["python"], "-m", "venv", str(seen_at)]),
        in_image([str(seen_at / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir",
                  "--no-warn-script-location", "--quiet", *KERNEL_PACKAGES, "-r", str(recipe)]),
    ]
    with open(log_path, "w") as log:
        log.write(f"building {dest} in job {job_id_here() or 'none'} on {socket.gethostname()}\n")
        for command in commands:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            if subprocess.run(command, stdout=log, stderr=log, env=env, stdin=subprocess.DEVNULL).returncode:
                raise EnvironmentBuildError(f"building the environment of kernel {settings['name']} failed at "
                                     f"{' '.join(command[:4])} ... (see {log_path})")
    write_kernel_spec(dest, seen_at, settings["name"])
    (dest / BUILT).write_text(json.dumps({"name": settings["name"], "digest": dest.name.rsplit("-", 1)[1]}) + "\n")


def _in_image(settings: dict, dest: Path, variables: dict[str, str]):
    """How a build command runs: as it is without a container, else in the image, with the
    environments' folder bound where the session sees it."""
    if not settings.get("image"):
        return lambda argv: argv
    run = ContainerRun(settings["image"], (f"{dest.parent}:{KERNELS_MOUNT}",),
                       KERNELS_MOUNT, {"PATH": IMAGE_PATH, "HOME": settings["seen_at"], **variables})
    runtime = get_runtime(settings["runtime"])
    return lambda argv: runtime.wrap(run, argv)


def write_kernel_spec(dest: Path, seen_at: Path, name: str) -> None:
    """The environment's kernel spec, as ``ipykernel install`` writes one (its interpreter where
    the session sees it)."""
    spec = dest / "share" / "jupyter" / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(seen_at / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name, "language": "python",
        "metadata": {"debugger": True, "startnotebook": {"environment": str(seen_at)}},
    }, indent=1) + "\n")
