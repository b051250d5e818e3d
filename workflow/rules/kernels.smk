# A project's environments, the session's own kernels (a sheet's kernels column): each a virtual
# environment built from the project's kernels/NAME/requirements.txt into the site's image folder
# as kernels/NAME-<digest>, whose marker .built says it is whole. An unchanged recipe is found as
# built. As for images, the recipe is staged first, so that the build (under profiles/slurm a batch
# job on a compute node) needs nothing but its input folder. Named by digest, so file times do not
# count (ancient()).


rule environment_recipe:
    input:
        ancient(lambda wildcards: str(SESSIONS.environment(wildcards.image_dir, wildcards.environment).recipe
                                      / environments.RECIPE_FILE)),
    output:
        directory("{image_dir}/kernels/recipes/{environment}"),
    log:
        "{image_dir}/kernels/recipes/{environment}.log",
    localrule: True
    run:
        environments.stage_recipe(SESSIONS.environment(wildcards.image_dir, wildcards.environment),
                                  SESSIONS.build_proxy, Path(log[0]))


rule environment:
    input:
        ancient("{image_dir}/kernels/recipes/{environment}"),
    output:
        "{image_dir}/kernels/{environment}/.built",
    log:
        "{image_dir}/kernels/{environment}.log",
    resources:
        cpus_per_task=1,
        mem_mb=2048,
        runtime=30,
    run:
        environments.build(Path(input[0]), Path(output[0]), Path(log[0]))
