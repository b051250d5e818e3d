"""Executing one notebook top to bottom with papermill, where its kernel runs.

Run as ``python -P -m startnotebook.rerun.executing SOURCE OUTPUT PARAMETERS_JSON`` in the session
folder, with the session's environment (HOME is the session folder), by this tool's own Python or
by the image's (runs.py starts it, inside the container if the session has one). It executes
SOURCE into OUTPUT (papermill: the parameters go into a cell after the one tagged
``parameters``, or first), and prints, as its last line, a JSON object of the Python and the
packages of this environment, the kernel's. The exit status is 0 if every cell ran, 1 if one
failed (OUTPUT then holds the notebook up to the error); SIGTERM ends it with its kernel.

Only the standard library and papermill are imported: inside an image this package is bound at
/opt/startnotebook, and whatever else it imports must be in the image.
"""

from __future__ import annotations

import json
import platform
import signal
import sys
from importlib import metadata

#: The kernel a notebook runs in when its metadata names none (ipykernel's own Python).
DEFAULT_KERNEL = "python3"


def environment_versions() -> dict:
    """This Python and its packages (the kernel's environment: papermill starts the native
    kernel of the interpreter that runs it)."""
    packages = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            packages[name.lower()] = distribution.version
    return {"python": platform.python_version(), "packages": dict(sorted(packages.items()))}


def kernel_of(source: str) -> str:
    with open(source, encoding="utf-8") as stream:
        notebook = json.load(stream)
    return (notebook.get("metadata", {}).get("kernelspec") or {}).get("name") or DEFAULT_KERNEL


def execute(source: str, output: str, parameters: dict) -> int:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(source, output, parameters=parameters, kernel_name=kernel_of(source),
                                   progress_bar=False, log_output=False, cwd=".")
    except PapermillExecutionError:
        # OUTPUT holds the notebook with the error: the caller names the cell from it.
        return 1
    return 0


def _exit_on_term(signal_number, frame) -> None:
    # Stopped (the run's timeout, a cancelled job): leave through papermill's own clean-up, which
    # shuts the kernel down (a kernel has a session of its own, beyond its caller's signals).
    raise SystemExit(128 + signal_number)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_term)
    source, output, parameters = argv
    status = execute(source, output, json.loads(parameters))
    print(json.dumps(environment_versions()), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
