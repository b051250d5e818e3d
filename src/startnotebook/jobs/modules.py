"""The site's environment modules (Lmod, or Environment Modules): loaded in the job before its
server starts, and checked on the login node before anything is submitted.

A batch shell is not a login shell: the job script sources the ``module`` command's init script
(the site's ``module_init``) itself. The modules' tree is the user's ``MODULEPATH``, which the job
inherits from the launch as every batch system passes the submitting environment on. An image does
not see the host's module tree, so modules go with sessions that run without a container only
(session_settings refuses the pair).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from ..errors import InvalidRequest

#: Seconds the login node's module command may take to say what it has.
CHECK_TIMEOUT = 60


def missing(modules: tuple[str, ...], init: Path) -> list[str]:
    """Those of ``modules`` the module command cannot load here: one shell, one look each."""
    script = (f"source {shlex.quote(str(init))} >/dev/null 2>&1 || exit 3\n"
              "for module in " + " ".join(map(shlex.quote, modules)) + "; do\n"
              '    module is-avail "$module" >/dev/null 2>&1 || echo "$module"\n'
              "done\n")
    try:
        answer = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], capture_output=True,
                                text=True, timeout=CHECK_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InvalidRequest(f"the module command did not say within {CHECK_TIMEOUT} s whether "
                             f"{', '.join(modules)} exist") from None
    if answer.returncode == 3:
        raise InvalidRequest(f"cannot load modules: the module command's init {init} cannot be sourced "
                             "(the site setting module_init)")
    return answer.stdout.split()


def check_available(modules: tuple[str, ...], init: Path) -> None:
    """InvalidRequest, in one line, if a module does not exist; nothing is asked without modules."""
    if not modules:
        return
    unknown = missing(modules, init)
    if unknown:
        which = "module " + unknown[0] if len(unknown) == 1 else "modules " + ", ".join(unknown)
        raise InvalidRequest(f"{which} cannot be loaded: no such module in MODULEPATH "
                             f"(`module avail` lists what there is)")


def load_script(modules: tuple[str, ...], init: Path | None) -> str:
    """The job script's lines that load ``modules`` (none without modules), or end the job."""
    if not modules:
        return ""
    names = " ".join(map(shlex.quote, modules))
    return f"""# The session's environment modules, for the server and its kernels.
if ! source {shlex.quote(str(init))} || ! module load {names}; then
    echo "startnotebook: the modules {names} could not be loaded; ending"
    ended failed "its modules could not be loaded (see the server log)"
    exit 1
fi
"""
