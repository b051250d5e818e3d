"""Errors a user reads. Each carries the one-line message the ``startnotebook`` command prints."""


class StartNotebookError(Exception):
    """Base class: ``str(error)`` is the message shown to the user."""

    exit_code = 1


class InvalidRequest(StartNotebookError):
    """An option or a declared session is not acceptable (bad name, flavour, timeout)."""

    exit_code = 2


class SessionFolderError(StartNotebookError):
    """The session folder cannot be created or written."""


class ConfigError(StartNotebookError):
    """Site configuration or profile is missing or invalid."""


class SubmitError(StartNotebookError):
    """The backend refused to start the notebook job."""


class ServerFailed(StartNotebookError):
    """The job ended, or never answered, before its URL was known."""


class LaunchInProgress(StartNotebookError):
    """Another `startnotebook` is launching the same session right now."""


class LaunchInterrupted(StartNotebookError):
    """The user pressed Ctrl-C while the launch waited; the job was cancelled."""

    exit_code = 130


class ContainerError(StartNotebookError):
    """The container runtime or the image is missing or unusable."""
