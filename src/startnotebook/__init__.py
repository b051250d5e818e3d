"""startnotebook: a Jupyter notebook in a batch job, launched by a Snakemake workflow.

The path of one launch, module by module:

    cli          options -> a session request                       (the ``startnotebook`` command)
    settings     site config + request -> validated session settings (schemas/)
    launch       runs the workflow target ``notebook_NAME`` and prints url and password
    Snakefile    rules: settings -> credentials -> jupyter config -> submit -> connection
    credentials  a fresh password; only its hash goes into the Jupyter config
    jupyter_config  the Jupyter settings of a session (timeouts, password hash, handover)
    backends/    where the server runs: ``local`` (this machine) or ``slurm`` (sbatch)
    jupyter_app  the server inside the job: binds, hands host and port back, stops when unused
    connection   waits for the handover, probes the server, writes the connection JSON
    session      the session folder ~/NAME and the files of one launch in it
    state        is a session's server still running?

This package is imported inside jobs too: keep this file free of imports.
"""

__version__ = "0.1.0"
