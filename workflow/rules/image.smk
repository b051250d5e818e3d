# The notebook image, built from the recipe in envs/notebook into the site's image folder.
# Its name carries the recipe's digest: a changed recipe is a new image, an unchanged one is
# found as built (the inputs are ancient(): a fresh checkout's newer recipe files alone do not
# make an image stale). Not a local rule: under profiles/slurm it runs as a batch job.

from startnotebook.image import RECIPE_FILES


rule image:
    input:
        [ancient(str(Path(workflow.basedir) / "envs" / "notebook" / name)) for name in RECIPE_FILES],
    output:
        directory("{image_dir}/notebook-{digest}"),
    wildcard_constraints:
        digest="[0-9a-f]{12}",
    params:
        recipe=str(Path(workflow.basedir) / "envs" / "notebook"),
        proxy=(config.get("container") or {}).get("build_proxy") or "",
    resources:
        cpus_per_task=2,
        mem_mb=4096,
        runtime=60,
    shell:
        "{PYTHON:q} -m startnotebook.image build {params.recipe:q} {output:q} {params.proxy}"


def image_to_build(wildcards):
    """The image a session's job needs from this workflow (none for a prebuilt one)."""
    settings = SESSIONS[wildcards.name]
    return [settings.container_image] if settings.container_build else []
