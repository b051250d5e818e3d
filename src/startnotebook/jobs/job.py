"""What a session job runs: one script, the same for every backend (a detached process, a batch job).

The script (``launches/<id>/job.sh``) checks that it runs in the session folder the launch checked
(the same inode: a folder swapped for another after the launch cannot host the server) and that
the whole path to it is still trusted (folders.py: nobody else can rename a folder on it), ends at
once if the batch system started it a second time (a requeue: one session, one server, ever),
runs the Jupyter server, and records how it ended if the server could not. HOME is the session
folder, as with the original tool, so Jupyter, IPython and ``pip install --user`` keep their state
in it. With a container runtime the server runs inside the image (see containers.py).

The server is started as ``python -P -m startnotebook.server``: ``-P`` keeps the working
directory (the user's session folder) off ``sys.path``, so a ``yaml.py`` there is never imported
by our server.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ..launch import heartbeat
from ..server import NODE_ADDRESS_VARIABLE
from ..sessions.records import LaunchRecord
from ..settings.config import Flavour
from . import modules
from .backends import JobFromInside
from .containers import (IMAGE_PATH, JUPYTER_DATA_MOUNT, KERNELS_MOUNT, PACKAGE_MOUNT, ContainerRun, existing_binds,
                         get_runtime)


@dataclass(frozen=True)
class Container:
    """How a job's server runs in a container (runtime "none": it does not)."""

    runtime: str = "none"
    image: str | None = None
    python: str = "/usr/bin/python3"
    binds: tuple[str, ...] = ()
    #: The site's folder of a project's environments, bound at KERNELS_MOUNT, if the session
    #: has some as kernels (jobs/environments.py).
    environments: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """Everything a backend needs to start one session's job."""

    name: str
    folder: Path
    record: LaunchRecord
    flavour: Flavour
    container: Container
    server_log: Path
    #: Seconds before the wall time's end at which the server ends the session (SessionClock).
    save_before_wall_time: int = 60
    #: Environment modules loaded before the server starts, with the module command's init.
    modules: tuple[str, ...] = ()
    module_init: Path | None = None

    @property
    def job_script_file(self) -> Path:
        return self.record.job_script_file


def session_environment(folder: Path) -> dict[str, str]:
    return {
        "HOME": str(folder),
        "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"),
        "JUPYTER_DATA_DIR": str(folder / ".local/share/jupyter"),
        # A runtime dir per session: `jupyter server list` elsewhere deletes files it cannot see.
        "JUPYTER_RUNTIME_DIR": str(folder / ".local/share/jupyter/runtime"),
        "IPYTHONDIR": str(folder / ".ipython"),
        "XDG_CONFIG_HOME": str(folder / ".config"),
        "XDG_DATA_HOME": str(folder / ".local/share"),
        "XDG_CACHE_HOME": str(folder / ".cache"),
        "MPLCONFIGDIR": str(folder / ".config/matplotlib"),
        # JupyterLab's extension manager asks npm; npm's cache would land in ~/.npm.
        "npm_config_cache": str(folder / ".cache/npm"),
        "PYTHONUNBUFFERED": "1",
        # Kernels come from the launch's checked folders (launch/own_kernels.py), not from a
        # JUPYTER_PATH the job inherits, which nobody checked.
        "JUPYTER_PATH": "",
    }


def _server_argv(python: str, record: LaunchRecord) -> list[str]:
    return [python, "-P", "-m", "startnotebook.server", str(record.jupyter_config_file)]


def container_run(spec: JobSpec) -> ContainerRun:
    return container_run_in(spec.container, spec.folder)


def container_run_in(container: Container, folder: Path) -> ContainerRun:
    """How anything of a session runs in its image (its server, a batch run of a notebook): the
    same HOME, working directory, binds and environment."""
    env = {**session_environment(folder), "PYTHONPATH": PACKAGE_MOUNT, "PATH": IMAGE_PATH,
           # The image's JupyterLab finds the session's clock there (containers.package_binds).
           "JUPYTER_PATH": JUPYTER_DATA_MOUNT}
    binds = existing_binds(list(container.binds), str(folder))
    if container.environments:
        binds += (f"{container.environments}:{KERNELS_MOUNT}",)
    return ContainerRun(container.image, binds, str(folder), env)


def server_command(spec: JobSpec) -> list[str]:
    """The server's command line, inside the container if there is one."""
    if spec.container.runtime == "none":
        return _server_argv(sys.executable, spec.record)
    runtime = get_runtime(spec.container.runtime)
    return runtime.wrap(container_run(spec), _server_argv(spec.container.python, spec.record))


def check_container(spec: JobSpec) -> None:
    """ContainerError now, before any job exists, if the runtime or the image is missing."""
    if spec.container.runtime != "none":
        get_runtime(spec.container.runtime).check(spec.container.image)


def path_check_command(folder: Path) -> list[str]:
    """The job's check of the whole path to the session folder (folders.job_check), in this
    tool's own Python: ``-I`` keeps the environment and the working directory out of it."""
    return [sys.executable, "-I", "-m", "startnotebook.sessions.folders", str(folder)]


def _exports(spec: JobSpec) -> str:
    variables = session_environment(spec.folder)
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in variables.items())


def _launch_watch(record: LaunchRecord) -> str:
    """The job's watch of its launch (see heartbeat.py), in the background until the connection
    is recorded: a launch that died before showing the URL leaves a server nobody can reach, so
    the job records why and stops it. The heartbeat's time is compared with itself, never with
    this node's clock."""
    beat = shlex.quote(str(heartbeat.heartbeat_file(record)))
    return f"""watch_launch() {{
    trap 'kill $nap 2>/dev/null; exit 0' TERM
    seen=$(stat -c %Y {beat} 2>/dev/null); since=$SECONDS
    while [ ! -e "$launch/connection.json" ]; do
        if [ $((SECONDS - since)) -ge {heartbeat.STALE} ]; then
            echo "startnotebook: launch {record.id} died before showing the URL; ending"
            ended failed "its launch died before showing the URL"
            kill -TERM $server 2>/dev/null
            return
        fi
        sleep {heartbeat.EVERY} & nap=$!; wait $nap
        beat=$(stat -c %Y {beat} 2>/dev/null)
        if [ "$beat" != "$seen" ]; then seen=$beat; since=$SECONDS; fi
    done
}}
watch_launch &
watcher=$!"""


def _restart_check(inside: JobFromInside) -> str:
    """One session, one server: a batch system starts a job again after a node failure or a
    requeue; the launch that made this job has moved on, so such a run ends at once."""
    if not inside.restart_variable:
        return ""
    count = inside.restart_variable
    return f"""if [ "${{{count}:-0}}" != 0 ]; then
    echo "startnotebook: the batch system started this job again (restart ${count}); ending at once"
    ended failed "the batch system restarted the job (requeue); launch the session again"
    exit 0
fi
"""


def job_script(spec: JobSpec, folder_inode: int, inside: JobFromInside) -> str:
    """The script of the session's job; ``inside`` says what the job learns of itself from its
    batch system (its id, whether it was started again)."""
    record, end, tmp = spec.record, spec.record.end_file, spec.record.folder / ".end.json.tmp"
    job_id = inside.job_id_in_shell()
    return f"""#!/bin/bash
# startnotebook session {spec.name}, launch {record.id}: Jupyter for as long as it is used.
folder={shlex.quote(str(spec.folder))}
launch={shlex.quote(str(record.folder))}
# A launch that was ended before its job could start (cancelled, failed, stopped) stays ended.
if [ -e "$launch/end.json" ]; then
    echo "startnotebook: launch {record.id} ended before this job started; ending at once"
    exit 0
fi
# When the allocation began to be used, for `startnotebook usage`.
(umask 077 && printf '{{"started": %s, "node": "%s", "job_id": "%s"}}\\n' "$(date +%s.%N)" "$(hostname)" \\
    "{job_id}" > "$launch/.start.json.tmp" && mv -f "$launch/.start.json.tmp" "$launch/start.json")
echo "=== startnotebook: launch {record.id} of {spec.name}, job {job_id} on $(hostname), $(date -u +%FT%TZ)"

ended() {{  # state reason: record how the session ended, unless the server did; drop its secrets
    if [ ! -e "$launch/end.json" ]; then
        (umask 077 && printf '{{"state": "%s", "reason": "%s", "ended": %s}}\\n' "$1" "$2" "$(date +%s.%N)" \\
            > {shlex.quote(str(tmp))} && mv -f {shlex.quote(str(tmp))} {shlex.quote(str(end))})
    fi
    rm -f "$launch/password" "$launch/proof_key" "$launch/connection.json"
}}

{_restart_check(inside)}# The folder the launch checked, not another one put in its place since (same inode, ours).
if [ -L "$folder" ] || [ ! -O "$folder" ] || [ "$(stat -c %i "$folder")" != {folder_inode} ]; then
    echo "startnotebook: $folder is not the session folder the launch checked; refusing to start"
    ended failed "the session folder changed after the launch checked it"
    exit 1
fi
# Every folder from / to the session folder still root's or the user's alone (folders.py): only
# then can nobody else have renamed one since the launch checked it, or do so while the server
# runs, which finds its root, IPYTHONDIR and runtime folder by this path. On this node, outside
# any container (inside one, root's folders may show as nobody's).
if ! {shlex.join(path_check_command(spec.folder))}; then
    ended failed "the path to the session folder is no longer safe (see the server log)"
    exit 1
fi
cd "$folder" || exit 1
{_exports(spec)}
{modules.load_script(spec.modules, spec.module_init)}# The node's address, found here where the node's name service is (a container's may not know
# the node); Apptainer passes APPTAINERENV_* variables in.
export {NODE_ADDRESS_VARIABLE}="$(hostname -i 2>/dev/null | cut -d' ' -f1)"
export APPTAINERENV_{NODE_ADDRESS_VARIABLE}="${NODE_ADDRESS_VARIABLE}"

{shlex.join(server_command(spec))} &
server=$!
{_launch_watch(record)}
# scancel and the local backend's stop send TERM to every process of the job: pass it on to the
# server (which then shuts its kernels down) and stay to record the end. The batch system's USR1
# before the end (asked for at submission) reaches this shell only: the server needs it to end
# cleanly in time.
trap 'kill -TERM $server 2>/dev/null' TERM INT
trap 'kill -USR1 $server 2>/dev/null' USR1
wait $server
status=$?
while kill -0 $server 2>/dev/null; do wait $server; status=$?; done
kill -TERM $watcher 2>/dev/null
if [ $status -eq 0 ]; then ended ended "the server stopped"; else ended failed "the server exited with status $status"; fi
# When the allocation stopped being used, for `startnotebook usage`: the last thing the job does.
(umask 077 && printf '{{"exited": %s, "status": %s}}\\n' "$(date +%s.%N)" "$status" \\
    > "$launch/.exit.json.tmp" && mv -f "$launch/.exit.json.tmp" "$launch/exit.json")
exit $status
"""
