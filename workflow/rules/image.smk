# The notebook image: a session's own recipe, or envs/notebook, built into the site's image folder
# as notebook-<digest of the recipe>. A changed recipe is a new image; an unchanged one is found
# as built. The recipe is staged next to the images first, so that the build (not a local rule:
# under profiles/slurm a batch job on a compute node) needs nothing but its input folder.
# The names carry the recipe's digest, so a newer file time (a fresh clone, a touched recipe) is
# no reason to build again: the inputs are ancient().


rule image_recipe:
    input:
        ancient(lambda wildcards: SESSIONS.recipe_of(wildcards.image_dir, wildcards.digest)),
    output:
        directory("{image_dir}/recipes/{digest}"),
    log:
        "{image_dir}/recipes/{digest}.log",
    localrule: True
    run:
        image.stage_recipe(Path(input[0]), Path(output[0]), SESSIONS.build_proxy, Path(log[0]))


rule image:
    input:
        ancient("{image_dir}/recipes/{digest}"),
    output:
        directory("{image_dir}/notebook-{digest}"),
    log:
        "{image_dir}/notebook-{digest}.log",
    resources:
        cpus_per_task=2,
        mem_mb=4096,
        runtime=60,
    run:
        image.build(Path(input[0]), Path(output[0]), Path(log[0]))
