"""The Snakefile's side of ``executed_NAME`` (workflow/rules/run.smk): what a run of a declared
session asks for, worked out in the main Snakemake process when the target is asked for.

The batch jobs (one per notebook; under ``--profile slurm`` a Snakemake on a compute node) know
no project: each finds what it runs in its request file (runs.py), and every function here gives
them neutral answers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import InvalidRequest
from ..jobs import environments
from ..jobs.backends import get_backend
from ..jobs.environments import Environment
from ..jobs.image import container_for
from ..launch.launching import Progress
from ..launch.snakefile import Sessions, as_workflow_error
from ..sessions.session import Session
from ..settings.config import Flavour
from ..settings.session_settings import SessionSettings, session_settings
from .runs import (Outputs, check_placeable, job_minutes, missing_notebooks, notebook_paths, parameters_of, place,
                   request, run_timeout)


class RunTargets:
    """The runs a Snakefile offers: ``executed_NAME`` per declared session.

    ``config["run"]`` (from ``startnotebook run``'s --notebook and --param, or a config file of
    the user's) names the notebooks to run and parameters over the row's.
    """

    def __init__(self, sessions: Sessions, config: dict):
        self.sessions = sessions
        run = config.get("run") or {}
        self.named = list(run.get("notebooks") or [])
        self.overrides = dict(run.get("parameters") or {})
        self.timeout = run.get("timeout")
        self.requests: dict[tuple[str, str], dict] = {}  # by (session folder, path without .ipynb)
        self.flavours: dict[str, Flavour] = {}  # by session folder
        self.images: dict[str, str] = {}  # by session folder: an image the workflow builds
        self.environments: dict[str, tuple[Environment, ...]] = {}  # by session folder

    @property
    def names(self) -> list[str]:
        return sorted(self.sessions.declared)

    @as_workflow_error
    def target_input(self, name: str) -> list[str]:
        """What ``executed_NAME`` needs: every notebook's executed outputs. A notebook that is
        missing (and cannot be put there) fails the run now, before any job."""
        fields, base = self.sessions.declared[name]
        site = self.sessions.site
        settings = session_settings(site, name, fields, base)
        # A flavour the batch system cannot serve (GPUs no partition has) fails the run now, in
        # one line, before the session folder is made or any job submitted.
        get_backend(site.backend).check_resources(settings.flavour)
        dry = self.sessions.workflow.dryrun
        session = Session.find(site, name) if dry else Session.create(site, name)
        folder = session.folder
        container, recipe = container_for(site.container, settings.recipe, name)
        # The project's environments the notebooks may name as their kernels, built first.
        kernels, container = environments.of_session(site.container.image_dir, settings.kernels, container, recipe)
        self.environments[str(folder)] = kernels
        if recipe is not None:
            self.images[str(folder)] = container.image
        timeout = run_timeout(fields, self.timeout)
        self.flavours[str(folder)] = replace(settings.flavour,
                                             runtime=job_minutes(settings.flavour.runtime, timeout))
        parameters = parameters_of(fields, self.overrides)
        wanted = []
        for path in self._notebooks(settings, session, dry):
            stem = path.removesuffix(".ipynb")
            self.requests[(str(folder), stem)] = request(name, stem, parameters, container, timeout, kernels)
            wanted += Outputs(folder, stem).declared
        return wanted

    def _notebooks(self, settings: SessionSettings, session: Session, dry: bool) -> list[str]:
        """The notebooks to run, put into the session folder where missing (a dry run writes
        nothing: a notebook still to be put there is only named)."""
        paths = notebook_paths(settings, session.folder, self.named)
        missing = missing_notebooks(settings, session.folder, paths)
        check_placeable(settings.name, missing)
        if dry:
            for path in missing:
                Progress().notice(f"{settings.name}: would put {path} into {session.folder} and run it")
            return [path for path in paths if path not in missing]
        session.prepare()
        place(session.folder, missing)
        return paths

    @as_workflow_error
    def request(self, folder: str, path: str) -> dict:
        if self.sessions.site is None:
            return {}  # a batch job: it reads the request file
        try:
            return self.requests[(folder, path)]
        except KeyError:
            raise InvalidRequest(f"{folder}/executed/{path}.ipynb is made by its session's target "
                                 "executed_NAME (or startnotebook run NAME), not by itself") from None

    def image_input(self, folder: str) -> list[str]:
        image = self.images.get(folder)
        return [image] if image else []

    def environment_input(self, folder: str) -> list[str]:
        return [str(environment.marker) for environment in self.environments.get(folder, ())]

    def resource(self, folder: str, key: str, default):
        """The session flavour's resources for its notebooks' jobs (a batch job: the default)."""
        flavour = self.flavours.get(folder)
        value = getattr(flavour, key) if flavour is not None else None
        return value if value is not None else default

    def batch_option(self, folder: str, key: str, default):
        """One of the flavour's settings for the batch system (named as the executor plugin names
        its resources, e.g. slurm_partition), for its notebooks' jobs."""
        flavour = self.flavours.get(folder)
        value = flavour.batch_options.get(key) if flavour is not None else None
        return value if value is not None else default

    def gres(self, folder: str) -> str:
        """The flavour's GPUs for its notebooks' jobs, as snakemake-executor-plugin-slurm's
        ``gres`` resource takes them (SLURM's words, as the backend has them); "" for none."""
        flavour = self.flavours.get(folder)
        if flavour is None or not flavour.gpus:
            return ""
        from ..jobs.backends.slurm.backend import gres

        return gres(flavour)


def outputs_of(wildcards) -> Outputs:
    return Outputs(Path(wildcards.folder), wildcards.path)
