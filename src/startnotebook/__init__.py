"""startnotebook: a Jupyter notebook in a batch job, launched by a Snakemake workflow.

A launch, module by module (the README's "How a launch works" draws it):

    cli, commands/       the command line; one module per command
    request, config      options, a project's row (project) and the site (profiles) -> settings
    folders, session     the checked session folder and what lives in it; records: its launches
    launching            is it running (assess)? the plan of a new launch; abandon on failure
    snakemake_run        runs the workflow target notebook_NAME in this process, with the plan
    snakefile, steps     the Snakefile's side: its sessions and plans; what each rule does
    credentials, jupyter_config, tls   password, the server's settings, certificates
    backends/, job, containers, image  where and how the job runs
    readiness, client, connection, report   waiting for the job, its server, what the user reads
    status, accounting, tables, times  sessions' states and usage, for list/info/stop/logs/usage
    server/              runs in the job: the session's Jupyter server
    run_targets, runs, executing   a declared session's rerun: its notebooks as batch jobs

This package is imported inside jobs (and containers) too: keep this file free of imports.
"""

__version__ = "0.2.0"
