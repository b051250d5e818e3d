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


def iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
