"""Errors a user reads. Each carries the one-line message the ``startnotebook`` command prints."""


class StartNotebookError(Exception):
    """Base class: ``str(error)`` is the message shown to the user."""

    exit_code = 1


class InvalidRequest(StartNotebookError):
    """An option, a declared session or a sessions sheet is not acceptable."""

    exit_code = 2


class UnknownSession(StartNotebookError):
    """A command names a session that has no folder (or no launch) yet."""

    exit_code = 2


class SessionFolderError(StartNotebookError):
    """The session folder cannot be used: not writable, full, a symlink, someone else's."""


class ConfigError(StartNotebookError):
    """Site configuration or profile is missing or invalid."""


class UnavailableResources(InvalidRequest):
    """A flavour asks for what the backend or the cluster cannot give (e.g. more GPUs than any
    partition it may use has on a node)."""


class ControllerUnreachable(StartNotebookError):
    """The batch system cannot be asked right now (e.g. slurmctld is down)."""


class SubmitError(StartNotebookError):
    """The backend refused to start the notebook job."""


class ServerFailed(StartNotebookError):
    """The job ended, or never answered, before its URL was known."""


class LaunchInterrupted(StartNotebookError):
    """The user pressed Ctrl-C while the launch waited; the job was cancelled."""

    exit_code = 130


class ContainerError(StartNotebookError):
    """The container runtime or the image is missing or unusable."""


class EnvironmentBuildError(StartNotebookError):
    """A project's environment (a kernel of the session) could not be built."""


class NotebookFetchError(StartNotebookError):
    """A notebook named by a session cannot be fetched."""


class SessionRunning(StartNotebookError):
    """The session runs, but not as its records say: a new launch would start a second server."""
