"""``startnotebook --check``: show what a launch would start; start nothing, write nothing."""

from __future__ import annotations

import sys
from typing import TextIO

from ..launching import plan_launch
from ..report import check_summary
from ..request import LaunchRequest, resolve


def run(request: LaunchRequest, out: TextIO = sys.stdout) -> int:
    resolved = resolve(request, create=False)
    plan = plan_launch(resolved.site, resolved.settings, resolved.session)
    out.write(check_summary(plan) + "\n")
    return 0
