"""Times as the user reads them: short in tables, ISO 8601 (with the offset) in JSON."""

from __future__ import annotations

from datetime import datetime


def when(timestamp: float | None) -> str:
    """A start time as short as it can be: 14:05 today, 11-27 14:05 before."""
    if not timestamp:
        return "-"
    moment = datetime.fromtimestamp(timestamp)
    if moment.date() == datetime.now().date():
        return moment.strftime("%H:%M")
    return moment.strftime("%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    """3m, 2h05, 3d04: the two largest units."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes}m"
    if days < 1:
        return f"{hours}h{minutes % 60:02d}"
    return f"{days}d{hours % 24:02d}"


# --- the session's ends, in the words of JupyterLab's status bar (labextension/src/index.ts) ------
def hours_minutes(seconds: float) -> str:
    """h:mm, as the status bar counts the wall time left."""
    minutes = max(0, int(seconds) // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def minutes_seconds(seconds: float) -> str:
    """m:ss, as the status bar counts the notebook timeout."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def wall_time_left(seconds: float) -> str:
    """'1:58 left, ends at 17:42 (wall time)'."""
    ends = datetime.fromtimestamp(datetime.now().timestamp() + seconds).strftime("%H:%M")
    return f"{hours_minutes(seconds)} left, ends at {ends} (wall time)"


def notebook_timeout_left(seconds: float) -> str:
    """'stops in 9:12 unless a kernel starts'."""
    return f"stops in {minutes_seconds(seconds)} unless a kernel starts"


def iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
