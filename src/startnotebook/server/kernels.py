"""The session's kernel specs: Jupyter's own (the session's python3, what the session folder
holds), first those of the project's environments the session declares (a sheet's kernels
column, built by the workflow: jobs/environments.py) under the names the project gives them, and
the user's own kernels (their real home's, JUPYTER_PATH's at launch: launch/own_kernels.py) under
their own names, or as ``NAME (home)`` where the session has a kernel of that name already.

Runs inside the job: the folders come from the launch's jupyter_config.json (checked there),
never from the environment the job inherited.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from traitlets import List, Unicode, default

#: How a kernel of the user's is told apart from the session's own of the same name.
HOME_SUFFIX = "-home"


class SessionKernelSpecManager(KernelSpecManager):
    project_kernel_dirs = List(
        Unicode(), config=True,
        help="kernels folders of the project's environments; their names win over a same-named spec elsewhere")
    own_kernels = List(
        Unicode(), config=True,
        help="kernel spec folders of the user's own kernels, offered after the session's own")

    @default("kernel_dirs")
    def _kernel_dirs_default(self) -> list[str]:
        return [*self.project_kernel_dirs, *super()._kernel_dirs_default()]

    def _own(self, taken) -> dict[str, str]:
        """The user's kernels by the name the session gives them (renamed on a clash)."""
        own: dict[str, str] = {}
        for folder in self.own_kernels:
            name = Path(folder).name.lower()
            if name in taken:
                name += HOME_SUFFIX
            if name not in taken and name not in own:
                own[name] = folder
        return own

    def find_kernel_specs(self) -> dict[str, str]:
        specs = super().find_kernel_specs()
        return {**specs, **self._own(set(specs))}

    def _find_spec_directory(self, kernel_name: str) -> str | None:
        return super()._find_spec_directory(kernel_name) or self._own(set(super().find_kernel_specs())).get(
            kernel_name)

    def _get_kernel_spec_by_name(self, kernel_name: str, resource_dir: str):
        spec = super()._get_kernel_spec_by_name(kernel_name, resource_dir)
        if kernel_name.endswith(HOME_SUFFIX) and resource_dir in self.own_kernels and \
                Path(resource_dir).name.lower() + HOME_SUFFIX == kernel_name:
            spec.display_name = f"{Path(resource_dir).name} (home)"
        return spec
