"""What a SLURM job learns from SLURM inside it: its id, its restarts and its real end.

The end is ``EndTime`` of ``scontrol show job $SLURM_JOB_ID`` (SLURM 22.05 has no
``SLURM_JOB_END_TIME``; it came in 23.02). An admin may move it (``scontrol update TimeLimit=``),
so the session's server asks again now and then (the site setting wall_time_recheck). USR1 comes
before the end as the submission asks (``sbatch --signal=B:USR1@LEAD``), up to 60 s early, once.

Runs inside the job (maybe inside a container without SLURM's commands): standard library only.
A lookup that fails yields None, and the caller keeps the flavour's runtime as the end.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime

from .. import JobFromInside

#: scontrol asks the controller once; a controller that does not answer within this many seconds
#: leaves the end as it was.
SCONTROL_TIMEOUT = 20
_END_TIME = re.compile(r"(?:^|\s)EndTime=(\S+)")


def parse_end_time(scontrol_output: str) -> float | None:
    """The epoch seconds of ``EndTime=`` in ``scontrol show job`` output, None if it has none.

    SLURM prints local time without a zone (``2026-12-02T07:42:00``); ``Unknown`` or ``None``
    for a job without an end.
    """
    match = _END_TIME.search(scontrol_output)
    if match is None:
        return None
    try:
        return datetime.fromisoformat(match.group(1)).astimezone().timestamp()
    except ValueError:
        return None


def job_end(job_id: str) -> float | None:
    """The end of SLURM job ``job_id`` as the controller knows it now (one RPC)."""
    if not job_id.isdigit():
        return None
    try:
        answer = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id],
                                capture_output=True, text=True, timeout=SCONTROL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_end_time(answer.stdout) if answer.returncode == 0 else None


FROM_INSIDE = JobFromInside(job_id_variable="SLURM_JOB_ID", restart_variable="SLURM_RESTART_COUNT",
                            ask_end=job_end, end_signal_early=60)
