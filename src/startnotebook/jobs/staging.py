"""Staging a recipe where its build finds it, and building it once.

The build of an image or of an environment may be a batch job on a compute node, which then needs
nothing but the staged folder (its files and build.json, the build's settings). Staged whole or
not at all; two launches staging the same recipe (the same digest, the same folder) leave one.
Launches run without Snakemake's lock: two that need the same build wait for one (a lock per
build) and the second finds it done.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

#: What the build host trusts, given to pip in what it builds: TLS to the package index may be
#: intercepted by a proxy the host trusts (this network's is).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def stage(files: dict[str, Path], settings: dict, staged: Path) -> None:
    """``staged`` holds ``files`` (by the name each gets) and ``settings`` as build.json."""
    partial = staged.with_name(f"{staged.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, source in files.items():
        shutil.copy(source, partial / name)
    (partial / "build.json").write_text(json.dumps(settings) + "\n")
    try:
        partial.rename(staged)
    except OSError:  # staged meanwhile by another launch: the same recipe (same digest)
        shutil.rmtree(partial, ignore_errors=True)


@contextlib.contextmanager
def one_build_of(dest: Path) -> Iterator[None]:
    """Held while ``dest`` is built: one build at a time, however many launches ask for it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
