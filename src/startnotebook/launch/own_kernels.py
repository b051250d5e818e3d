"""The user's own kernels in the session: the kernel specs of their real home and of the
``JUPYTER_PATH`` at launch, offered under their own names without copying anything.

Inside a session HOME is the session folder, so Jupyter would not look in the real
``~/.local/share/jupyter/kernels`` (where ``python -m ipykernel install --user`` puts a kernel);
and the job must not trust a ``JUPYTER_PATH`` it merely inherits (job.py clears it). So the launch
looks once, here: a kernels folder is used only if it is trusted the way a session folder is (its
whole path root's or the user's alone, sessions/folders.py), and each kernel spec in it only if
nobody else may change it; the others are skipped and named by ``--check``. The server offers the
specs it is given (server/kernels.py), renaming one whose name the session has already (``NAME
(home)``). In a container only the specs whose interpreter the container sees (a bound folder)
are offered; the others are named by ``--check`` with why.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..jobs.containers import existing_binds
from ..jobs.job import Container
from ..sessions.folders import first_untrusted, who_else_may_change

KERNELS = Path(".local/share/jupyter/kernels")


@dataclass(frozen=True)
class OwnKernel:
    name: str
    spec: Path  # the kernel spec's folder (kernel.json in it)
    interpreter: str


@dataclass(frozen=True)
class Skipped:
    where: Path
    why: str


@dataclass(frozen=True)
class OwnKernels:
    offered: tuple[OwnKernel, ...] = ()
    skipped: tuple[Skipped, ...] = ()


def kernel_folders(environ: Mapping[str, str]) -> list[Path]:
    """Where the user's own kernel specs are: the real home's, then JUPYTER_PATH's, each once."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    folders = [home / KERNELS]
    folders += [Path(entry) / "kernels" for entry in environ.get("JUPYTER_PATH", "").split(os.pathsep)
                if entry and Path(entry).is_absolute()]
    return list(dict.fromkeys(folders))


def own_kernels(environ: Mapping[str, str], container: Container, session_folder: Path) -> OwnKernels:
    """The user's kernels the session offers, and those it skips with why."""
    offered: dict[str, OwnKernel] = {}
    skipped: list[Skipped] = []
    for folder in kernel_folders(environ):
        if not folder.is_dir():
            continue
        untrusted = first_untrusted(folder)
        if untrusted is not None:
            skipped.append(Skipped(folder, untrusted[1]))
            continue
        try:
            specs = sorted(path for path in folder.iterdir() if (path / "kernel.json").is_file())
        except OSError as error:  # a folder the user may not list
            skipped.append(Skipped(folder, f"cannot be read: {error.strerror or type(error).__name__}"))
            continue
        for spec in specs:
            kernel, why = _read(spec)
            if why is None and container.runtime != "none":
                why = _out_of_reach(kernel, container, session_folder)
            if why is not None:
                skipped.append(Skipped(spec, why))
            elif kernel.name not in offered:  # the first folder's wins, as Jupyter's order has it
                offered[kernel.name] = kernel
    return OwnKernels(tuple(offered.values()), tuple(skipped))


def _read(spec: Path) -> tuple[OwnKernel | None, str | None]:
    for path in (spec, spec / "kernel.json"):
        other = who_else_may_change(os.lstat(path), or_root=True)
        if other is not None:
            return None, f"{path} {other}"
    try:
        argv = json.loads((spec / "kernel.json").read_text()).get("argv") or []
    except (OSError, ValueError, AttributeError) as error:
        return None, f"its kernel.json cannot be read: {str(error).splitlines()[0][:120]}"
    if not argv or not isinstance(argv[0], str):
        return None, "its kernel.json names no interpreter (argv)"
    return OwnKernel(spec.name.lower(), spec, argv[0]), None


def _out_of_reach(kernel: OwnKernel, container: Container, session_folder: Path) -> str | None:
    """Why the container cannot run ``kernel`` (None: it can): its spec and its interpreter must
    be in a folder bound into it."""
    bound = [Path(folder) for folder in existing_binds(list(container.binds), str(session_folder))]
    for what, path in (("kernel spec", kernel.spec), ("interpreter", Path(kernel.interpreter))):
        if not path.is_absolute() or not any(path.is_relative_to(folder) for folder in bound):
            return (f"not available in the container: its {what} {path} is in no folder bound into it "
                    f"({', '.join(map(str, bound))})")
    return None
