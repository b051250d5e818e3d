"""startnotebook: a Jupyter notebook in a batch job, launched by a Snakemake workflow.

A launch, package by package, in the order data flows (the README's "How a launch works"):

    cli, commands/   the command line; one module per command, each with run(...)
    settings/        what the site and the project say: profiles -> config (site, flavours) ->
                     project (its sheet) -> session_settings (one session's, checked)
    sessions/        a session: names, its checked folder, records of its launches, the one
                     judgement of whether it runs, its state and usage, its server's client
    launch/          one launch: request -> launching (assess, plan, abandon) -> snakemake_run ->
                     snakefile, steps (the rules' side) -> credentials, jupyter_config, tls ->
                     readiness, heartbeat (waiting for the job)
    jobs/            where and how the job runs: job (its script), backends/ (local, slurm),
                     containers (runtimes), image (the session's image), environments (a
                     project's kernels), staging (of their recipes), modules (the site's)
    server/          runs in the job: the session's Jupyter server
    rerun/           a declared session's notebooks as batch jobs (executed_NAME)
    display/         what the user reads: banners, tables, times
    errors, resources, quick_imports   typed errors, the package's data files, import shortcuts

This package is imported inside jobs (and containers) too: keep this file free of imports.
"""

__version__ = "0.2.0"
