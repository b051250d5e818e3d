# executed_NAME: every notebook of the declared session NAME executed top to bottom, one batch job
# per notebook (startnotebook run NAME runs this target), in the session's image, with its
# parameters and the project's environments as its kernels (built first); outputs in <session
# folder>/executed/ (see startnotebook/rerun/runs.py). The request rule is rewritten only when a
# notebook's parameters, image or environments change, so Snakemake's rerun rules rerun a
# notebook when it or they changed, and nothing otherwise.


rule run_request:
    input:
        image=lambda wildcards: RUNS.image_input(wildcards.folder),
        kernels=lambda wildcards: RUNS.environment_input(wildcards.folder),
    output:
        "{folder}/.startnotebook/runs/{path}.json",
    params:
        request=lambda wildcards: RUNS.request(wildcards.folder, wildcards.path),
    log:
        "{folder}/.startnotebook/runs/{path}.request.log",
    wildcard_constraints:
        folder=runs.FOLDER_PATTERN,
        path=runs.PATH_PATTERN,
    localrule: True
    run:
        runs.write_request(params.request, output[0], log[0])


rule executed_notebook:
    input:
        notebook="{folder}/{path}.ipynb",
        request="{folder}/.startnotebook/runs/{path}.json",
    output:
        notebook="{folder}/executed/{path}.ipynb",
        html="{folder}/executed/{path}.html",
        record="{folder}/executed/{path}.json",
    log:
        "{folder}/.startnotebook/runs/{path}.log",
    wildcard_constraints:
        folder=runs.FOLDER_PATTERN,
        path=runs.PATH_PATTERN,
    resources:
        cpus_per_task=lambda wildcards: RUNS.resource(wildcards.folder, "cpus_per_task", 1),
        mem_mb=lambda wildcards: RUNS.resource(wildcards.folder, "mem_mb", 1024),
        runtime=lambda wildcards: RUNS.resource(wildcards.folder, "runtime", 60),
        slurm_partition=lambda wildcards: RUNS.batch_option(wildcards.folder, "slurm_partition", ""),
        slurm_account=lambda wildcards: RUNS.batch_option(wildcards.folder, "slurm_account", ""),
        slurm_extra=lambda wildcards: RUNS.batch_option(wildcards.folder, "slurm_extra", ""),
        gres=lambda wildcards: RUNS.gres(wildcards.folder),
    run:
        runs.execute(input.request, input.notebook, run_targets.outputs_of(wildcards), log[0])


for _name in RUNS.names:

    rule:
        name:
            f"executed_{_name}"
        input:
            lambda wildcards, name=_name: RUNS.target_input(name),
        localrule: True
