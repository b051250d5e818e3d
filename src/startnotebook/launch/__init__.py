"""One launch, from the request to the URL: the resolved request, the launch core (is it running,
the plan, abandon), Snakemake run in this process, the Snakefile's side and the rules' steps, the
credentials, the server's settings and certificates, and waiting for the job's server."""
