"""Container runtimes behind one small interface: how to run a command inside the image.

    none          Jupyter from this tool's own Python environment (the local default)
    charliecloud  ch-run on a directory image (Debian's charliecloud; what the tests run)
    apptainer     apptainer exec on an image file (production; a thin mapping of the same settings)

Inside, whatever the runtime: HOME and the working directory are the session folder, the
configured host folders (homes, project space, /cvmfs) are bound at their own paths where they
exist, the startnotebook package is bound at /opt/startnotebook, and the command runs as the user.
The package's JupyterLab extension (the session's clock) is bound at LABEXTENSION_MOUNT, where the
image's JupyterLab 4 finds it (JUPYTER_PATH names its share/jupyter; job.py), and a session with a
project's environments as kernels sees the site's folder of them at KERNELS_MOUNT.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from .. import resources
from ..errors import ConfigError, ContainerError
from ..sessions.folders import others_may_write

#: Where the package is bound inside an image (envs/notebook/mount-points.txt makes the folder).
PACKAGE_MOUNT = "/opt/startnotebook"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Inside an image: the Jupyter data folder whose labextensions/ holds the package's extension
#: (envs/notebook/mount-points.txt makes the folder the extension is bound on).
JUPYTER_DATA_MOUNT = f"{PACKAGE_MOUNT}/share/jupyter"
LABEXTENSION_MOUNT = f"{JUPYTER_DATA_MOUNT}/labextensions/startnotebook"
#: Inside an image: the site's folder of a project's environments (<image_dir>/kernels), where they
#: are built and run (jobs/environments.py; envs/notebook/mount-points.txt makes the folder).
KERNELS_MOUNT = f"{PACKAGE_MOUNT}/kernels"
#: Where an image's Python keeps JupyterLab (Debian's and pip's places).
_IMAGE_JUPYTERLAB = ("usr/lib/python3*/*-packages/jupyterlab-*.dist-info",
                     "usr/local/lib/python3*/*-packages/jupyterlab-*.dist-info",
                     "usr/lib/python3/dist-packages/jupyterlab-*.*-info")


@dataclass(frozen=True)
class ContainerRun:
    image: str
    binds: tuple[str, ...]
    home: str
    env: dict[str, str]

    @property
    def package_binds(self) -> tuple[str, ...]:
        """The package, and its JupyterLab extension where the image's JupyterLab finds it: a
        directory image without the folder to bind it on (a site's own) runs without it."""
        binds = (f"{resources.package_parent() / 'startnotebook'}:{PACKAGE_MOUNT}/startnotebook",)
        image = Path(self.image)
        if not image.is_dir() or (image / LABEXTENSION_MOUNT.lstrip("/")).is_dir():
            binds += (f"{resources.labextension()}:{LABEXTENSION_MOUNT}",)
        return binds


def labextension_problem(image: str) -> str | None:
    """Why the image's server cannot load the session's clock (JupyterLab's extension), or None.

    Read from a directory image's files (no container is started for --check); an image file
    (Apptainer's SIF) cannot be read so, and is not judged.
    """
    root = Path(image)
    if not root.is_dir():
        return None
    if not (root / LABEXTENSION_MOUNT.lstrip("/")).is_dir():
        return f"the image has no folder {LABEXTENSION_MOUNT} to bind the extension on"
    # jupyterlab-4.6.1.dist-info: the version is between the first "-" and the suffix.
    versions = [Path(found).stem.split("-")[1].removesuffix(".dist") for pattern in _IMAGE_JUPYTERLAB
                for found in glob.glob(str(root / pattern))]
    if not versions:
        return "the image has no JupyterLab"
    if not any(version.startswith("4.") for version in versions):
        return f"the image's JupyterLab is {versions[0]}, not 4"
    return None


def existing_binds(folders: list[str], session_folder: str) -> tuple[str, ...]:
    """The configured folders that exist here, plus the top folder holding the session folder."""
    top = "/" + Path(session_folder).parts[1]
    wanted = dict.fromkeys([top, *folders])
    return tuple(folder for folder in wanted if Path(folder).is_dir())


def check_trusted(image: Path) -> None:
    """The session's server runs the image's Python with the user's rights and password: only an
    image the user or root made, that nobody else can change, is run (an image folder may be
    shared: another user could put an image of theirs where the user's is expected)."""
    info = os.lstat(image)
    if stat.S_ISLNK(info.st_mode):
        raise ContainerError(f"container image {image} is a symbolic link; refusing to run it")
    if info.st_uid not in (os.getuid(), 0):
        raise ContainerError(f"container image {image} belongs to another user; refusing to run it")
    if others_may_write(info):
        raise ContainerError(f"container image {image} can be changed by others; refusing to run it")


class Runtime(ABC):
    name: str
    executable: str

    def check(self, image: str) -> None:
        if shutil.which(self.executable) is None:
            raise ContainerError(
                f"container runtime {self.name}: {self.executable} is not installed here "
                "(install it, or choose another container.runtime in the site config)"
            )
        if not Path(image).exists():
            raise ContainerError(
                f"container image {image} does not exist (let the workflow build it, or point "
                "container.image at a prebuilt image)"
            )
        check_trusted(Path(image))

    @abstractmethod
    def wrap(self, run: ContainerRun, argv: list[str]) -> list[str]:
        """``argv`` run inside the container."""


class Charliecloud(Runtime):
    name = "charliecloud"
    executable = "ch-run"

    def wrap(self, run: ContainerRun, argv: list[str]) -> list[str]:
        command = [self.executable]
        command += [f"--bind={folder}" for folder in run.binds]
        command += [f"--bind={bind}" for bind in run.package_binds] + [f"--cd={run.home}"]
        command += [f"--set-env={key}={value}" for key, value in run.env.items()]
        return command + [run.image, "--", *argv]


class Apptainer(Runtime):
    name = "apptainer"
    executable = "apptainer"

    def wrap(self, run: ContainerRun, argv: list[str]) -> list[str]:
        command = [self.executable, "exec", "--cleanenv", "--home", run.home, "--pwd", run.home]
        for bind in (*run.binds, *run.package_binds):
            command += ["--bind", bind]
        for key, value in run.env.items():
            command += ["--env", f"{key}={value}"]
        return command + [run.image, *argv]


RUNTIMES = {runtime.name: runtime for runtime in (Charliecloud(), Apptainer())}


def get_runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ConfigError(
            f"unknown container runtime {name!r} (choose from: none, {', '.join(RUNTIMES)})"
        ) from None
