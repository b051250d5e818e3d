"""What the user reads: the connection banner, the lock-wait notice and the ``--check`` summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..launch.launching import LaunchPlan

#: What --check and info say when no profile applies: the shipped defaults, whose backend is local.
NO_PROFILE = "none (this machine)"


def wall_time(minutes: int) -> str:
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:00"


def lead(seconds: int) -> str:
    """A lead time as the status bar counts (m:ss)."""
    return f"{seconds // 60}:{seconds % 60:02d}"


def clock_summary(plan: LaunchPlan) -> str:
    """What --check says of the session's clock in JupyterLab: its warnings and its clean end."""
    warnings, whole = plan.site.warnings, plan.settings.flavour.runtime * 60

    def leads(when: str, span: int) -> str:
        return " and ".join(lead(s) for s in sorted(warnings.get(when, ()), reverse=True) if s < span)

    parts = [f"warns {leads('before_wall_time', whole) or 'never'} before the wall time"]
    if plan.settings.notebook_timeout > 0:
        parts.append(f"{leads('before_notebook_timeout', plan.settings.notebook_timeout) or 'never'} "
                     "before the notebook timeout")
    return (", ".join(parts) + f"; saves open documents and ends the session "
            f"{lead(plan.site.save_before_wall_time)} before the wall time")


def labextension_summary(plan: LaunchPlan) -> str | None:
    """Why the session's image cannot show the clock in JupyterLab, if it cannot."""
    if plan.container.runtime == "none":
        return None
    from ..jobs.containers import labextension_problem

    problem = labextension_problem(plan.container.image)
    if problem is None:
        return None
    return (f"not shown in JupyterLab: {problem}; the session still ends "
            f"{lead(plan.site.save_before_wall_time)} before the wall time, without saving open documents")


def _access(connection: dict, tunnel: bool) -> str:
    # The original tool's wording: users and their scripts know these lines.
    lines = [
        "Access your notebook using the following parameters:",
        "",
        f"\turl : {connection['url']}",
        f"\tpass: {connection['password']}",
    ]
    if connection.get("certificate_sha256"):
        lines.append(f"\tsha256 fingerprint of its certificate: {connection['certificate_sha256']}")
    if tunnel:
        lines += [
            "",
            "The node is not reachable from your laptop directly: run there",
            f"\t{connection['tunnel']['command']}",
            f"then open {connection['tunnel']['local_url']}",
        ]
    return "\n".join(lines)


def connection_banner(connection: dict, nodes_reachable: bool, launched: bool = True) -> str:
    """What startnotebook (and ``snakemake notebook_NAME``) prints of a session it ``launched``
    or found running: its URL and password, and the SSH tunnel where the user cannot reach the
    node."""
    tunnel = not nodes_reachable
    if launched:
        return "Notebook successfully launched!\n" + _access(connection, tunnel)
    return (
        f"Notebook {connection['name']} is already running (job {connection['job_id']}); "
        "nothing new was started.\n" + _access(connection, tunnel)
    )


def waiting_for_lock(name: str, stopping: bool = False) -> str:
    """What a launch or a stop says while another launch or stop of session ``name`` holds its
    lock (launch, ``snakemake notebook_NAME`` and stop say it alike)."""
    others = "a launch or another stop" if stopping else "another launch or a stop"
    return f"{others} of {name} is in progress; waiting for it"


def image_summary(plan: LaunchPlan) -> str:
    container = plan.container
    if container.runtime == "none":
        return "none (Jupyter from this tool's own Python environment)"
    if plan.recipe is not None:
        from ..jobs.image import image_state

        return f"{container.image} ({image_state(plan.image.parent, plan.recipe)}; recipe {plan.recipe})"
    return f"{container.image} (prebuilt, {'present' if Path(container.image).exists() else 'MISSING'})"


def gpu_summary(plan: LaunchPlan) -> str:
    """The flavour's GPUs and, as the backend checked, where the batch system has them."""
    flavour = plan.settings.flavour
    if not flavour.gpus:
        return "none"
    offered = f"; the cluster has them: {plan.resources_offered}" if plan.resources_offered else ""
    return f"{flavour.gpus_text()}, in the kernel's CUDA_VISIBLE_DEVICES{offered}"


def check_summary(plan: LaunchPlan) -> str:
    settings, flavour = plan.settings, plan.settings.flavour
    lines = [
        ("session", settings.name),
        ("folder", str(plan.session.folder)),
        ("profile", str(plan.site.profile) if plan.site.profile else NO_PROFILE),
        ("flavour", flavour.name),
        ("cpus", str(flavour.cpus_per_task)),
        ("memory", f"{flavour.mem_mb} MB"),
        ("wall time", wall_time(flavour.runtime)),
        ("gpus", gpu_summary(plan)),
        ("kernel timeout", f"{settings.kernel_timeout} s"),
        ("notebook timeout", f"{settings.notebook_timeout} s"),
        ("tls", "https" if settings.tls else "off (http)"),
        ("container", plan.container.runtime),
        ("image", image_summary(plan)),
        ("modules", f"{', '.join(settings.modules)} (module load in the job, after {plan.site.module_init})"
         if settings.modules else "none"),
        ("clock", labextension_summary(plan) or clock_summary(plan)),
        *plan.backend.describe(plan.job_spec()),
    ]
    own = plan.own_kernels
    if own.offered:
        lines.append(("your kernels", ", ".join(f"{kernel.name} ({kernel.spec})" for kernel in own.offered)))
    lines += [("skipped kernels", f"{skipped.where}: {skipped.why}") for skipped in own.skipped]
    if plan.environments:
        lines.append(("project kernels", ", ".join(
            f"{environment.name} ({'built' if environment.built else 'to build'}: {environment.path})"
            for environment in plan.environments)))
    if settings.notebooks:
        lines.append(("notebooks", ", ".join(settings.notebooks)))
    if any("://" in notebook for notebook in settings.notebooks):
        fetch = plan.site.notebook_fetch
        lines.append(("notebook fetch", f"up to {fetch.max_mb} MB, {fetch.timeout} s timeout"))
    width = max(len(label) for label, _ in lines)
    body = "\n".join(f"  {label:<{width}} : {value}" for label, value in lines)
    return f"Dry run (--check): nothing is started, nothing is written.\n{body}"
