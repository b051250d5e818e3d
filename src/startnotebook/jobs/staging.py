"""Staging a recipe where its build finds it: the build of an image or of an environment may be a
batch job on a compute node, which then needs nothing but that folder (its files and build.json,
the build's settings). Staged whole or not at all; two launches staging the same recipe (the
same digest, the same folder) leave one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


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
