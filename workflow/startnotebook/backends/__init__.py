"""Where a session's server runs. A backend submits the job, tells its state, and cancels it.

The workflow does not care which one it talks to: the config's ``backend`` picks it, and a new
backend is a module here with a class implementing :class:`Backend`, listed in ``BACKENDS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..errors import ConfigError
from ..session import SessionPaths
from ..settings import SessionSettings


@dataclass(frozen=True)
class JobState:
    """What a backend knows of a job. ``alive`` is None when it cannot tell from here."""

    alive: bool | None
    label: str
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.label} ({self.reason})" if self.reason else self.label


class Backend(ABC):
    name: str
    #: The address the server listens on, and the host put in the URL ("" = the node's address).
    bind_ip: str
    advertised_host: str

    @abstractmethod
    def describe(self, settings: SessionSettings, paths: SessionPaths) -> list[tuple[str, str]]:
        """(label, value) lines for ``--check``: what would be started, and how."""

    @abstractmethod
    def submit(self, settings: SessionSettings, paths: SessionPaths) -> dict:
        """Start the server job, detached; return the job record (stored as job.json)."""

    @abstractmethod
    def state(self, job: dict) -> JobState:
        """The job's state now."""

    @abstractmethod
    def cancel(self, job: dict) -> None:
        """End the job and everything it started; a job already gone is not an error."""

    #: How long to wait between two state checks of a job (seconds, by attempt number).
    def poll_delay(self, attempt: int) -> float:
        return 0.5


def get_backend(name: str) -> Backend:
    if name == "local":
        from .local import LocalBackend

        return LocalBackend()
    if name == "slurm":
        from .slurm import SlurmBackend

        return SlurmBackend()
    raise ConfigError(f"unknown backend {name!r} (choose from: local, slurm)")
