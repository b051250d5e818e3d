# One launch of a session: every file is in its record folder, the {launch} wildcard
# (<session folder>/.startnotebook/launches/<id>). The rules run in Snakemake's own threads
# (force-use-threads), where the launch's plan is: SESSIONS.plan(wildcards.launch).


rule launch_record:
    output:
        "{launch}/launch.json",
    localrule: True
    run:
        steps.begin(SESSIONS.plan(wildcards.launch))


rule credentials:
    input:
        "{launch}/launch.json",
    output:
        "{launch}/password",
    localrule: True
    run:
        steps.make_credentials(SESSIONS.plan(wildcards.launch))


rule jupyter_config:
    input:
        "{launch}/password",
    output:
        "{launch}/jupyter_config.json",
    localrule: True
    run:
        steps.make_jupyter_config(SESSIONS.plan(wildcards.launch))


rule submit:
    input:
        config="{launch}/jupyter_config.json",
        image=lambda wildcards: SESSIONS.image_input(wildcards.launch),
    output:
        "{launch}/job.json",
    localrule: True
    run:
        steps.submit(SESSIONS.plan(wildcards.launch))


rule connection:
    input:
        "{launch}/job.json",
    output:
        "{launch}/connection.json",
    localrule: True
    run:
        steps.connect(SESSIONS.plan(wildcards.launch))
