"""The --check command: show what a launch would start, start nothing, write nothing."""

from __future__ import annotations

import sys
from typing import TextIO

from .backends import get_backend
from .report import check_summary
from .request import LaunchRequest, resolve


def run(request: LaunchRequest, out: TextIO = sys.stdout) -> int:
    launch = resolve(request)
    backend = get_backend(launch.settings.backend)
    out.write(check_summary(launch.settings, backend, launch.paths) + "\n")
    return 0
