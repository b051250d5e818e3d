"""Container runtimes behind one small interface: how to run a command inside the image.

    none          Jupyter from this tool's own Python environment (the local default)
    charliecloud  ch-run on a directory image (Debian's charliecloud; what the tests run)
    apptainer     apptainer exec on an image file (production; a thin mapping of the same settings)

Inside, whatever the runtime: HOME and the working directory are the session folder, the
configured host folders (homes, project space, /cvmfs) are bound at their own paths where they
exist, the startnotebook package is bound at /opt/startnotebook, and the command runs as the user.
"""

from __future__ import annotations

import os
import shutil
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from . import resources
from .errors import ConfigError, ContainerError
from .folders import others_may_write

#: Where the package is bound inside an image (envs/notebook/mount-points.txt makes the folder).
PACKAGE_MOUNT = "/opt/startnotebook"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ContainerRun:
    image: str
    binds: tuple[str, ...]
    home: str
    env: dict[str, str]

    @property
    def package_bind(self) -> str:
        return f"{resources.package_parent() / 'startnotebook'}:{PACKAGE_MOUNT}/startnotebook"


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
        command += [f"--bind={run.package_bind}", f"--cd={run.home}"]
        command += [f"--set-env={key}={value}" for key, value in run.env.items()]
        return command + [run.image, "--", *argv]


class Apptainer(Runtime):
    name = "apptainer"
    executable = "apptainer"

    def wrap(self, run: ContainerRun, argv: list[str]) -> list[str]:
        command = [self.executable, "exec", "--cleanenv", "--home", run.home, "--pwd", run.home]
        for bind in (*run.binds, run.package_bind):
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
