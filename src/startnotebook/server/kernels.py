"""The session's kernel specs: Jupyter's own (the session's python3, what the session folder
holds) and, first, those of the project's environments the session declares (a sheet's kernels
column, built by the workflow: jobs/environments.py), under the names the project gives them.

Runs inside the job: the folders come from the launch's jupyter_config.json, never from the
environment the job inherited.
"""

from __future__ import annotations

from jupyter_client.kernelspec import KernelSpecManager
from traitlets import List, Unicode, default


class SessionKernelSpecManager(KernelSpecManager):
    project_kernel_dirs = List(
        Unicode(), config=True,
        help="kernels folders of the project's environments; their names win over a same-named spec elsewhere")

    @default("kernel_dirs")
    def _kernel_dirs_default(self) -> list[str]:
        return [*self.project_kernel_dirs, *super()._kernel_dirs_default()]
