"""``startnotebook --check``: show what a launch would start; start nothing, write nothing."""

from __future__ import annotations

import sys
from typing import TextIO

from ..display.report import check_summary
from ..launch.launching import plan_launch
from ..launch.request import LaunchRequest, resolve


def run(request: LaunchRequest, out: TextIO = sys.stdout) -> int:
    resolved = resolve(request, create=False)
    plan = plan_launch(resolved.site, resolved.settings, resolved.session, offered=resolved.offered)
    out.write(check_summary(plan) + "\n")
    return 0
