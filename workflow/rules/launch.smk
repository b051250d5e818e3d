# One launch of a session: every file is in its record folder, the {launch} wildcard
# (<session folder>/.startnotebook/launches/<id>), and each rule says what it did in its log there.
# The rules run in Snakemake's own threads (force-use-threads), where the launch's plan is:
# SESSIONS.plan(wildcards.launch).


rule launch_record:
    output:
        "{launch}/launch.json",
    log:
        "{launch}/logs/launch_record.log",
    localrule: True
    run:
        steps.begin(SESSIONS.plan(wildcards.launch), log[0])


rule notebook:
    input:
        lambda wildcards: SESSIONS.notebook_source(wildcards.launch, wildcards.notebook, storage.http),
    output:
        # Staged until the notebooks rule has put it into the session folder (as a hard link
        # where it can): one copy of a notebook is kept, the session folder's.
        temp("{launch}/notebooks/{notebook}"),
    log:
        "{launch}/logs/notebook-{notebook}.log",
    localrule: True
    run:
        steps.stage_notebook(SESSIONS.plan(wildcards.launch), log[0], input[0], output[0])


rule notebooks:
    input:
        "{launch}/launch.json",
        staged=lambda wildcards: SESSIONS.staged_notebooks(wildcards.launch),
    output:
        "{launch}/notebooks.txt",
    log:
        "{launch}/logs/notebooks.log",
    localrule: True
    run:
        steps.place_notebooks(SESSIONS.plan(wildcards.launch), log[0], list(input.staged), output[0])


rule credentials:
    input:
        "{launch}/launch.json",
    output:
        "{launch}/password",
        "{launch}/proof_key",
    log:
        "{launch}/logs/credentials.log",
    localrule: True
    run:
        steps.make_credentials(SESSIONS.plan(wildcards.launch), log[0])


rule jupyter_config:
    input:
        "{launch}/password",
    output:
        "{launch}/jupyter_config.json",
    log:
        "{launch}/logs/jupyter_config.log",
    localrule: True
    run:
        steps.make_jupyter_config(SESSIONS.plan(wildcards.launch), log[0])


rule submit:
    input:
        config="{launch}/jupyter_config.json",
        notebooks="{launch}/notebooks.txt",
        image=lambda wildcards: SESSIONS.image_input(wildcards.launch),
        kernels=lambda wildcards: SESSIONS.environment_input(wildcards.launch),
    output:
        "{launch}/job.json",
    log:
        "{launch}/logs/submit.log",
    localrule: True
    run:
        steps.submit(SESSIONS.plan(wildcards.launch), log[0])


rule connection:
    input:
        "{launch}/job.json",
    output:
        "{launch}/connection.json",
    log:
        "{launch}/logs/connection.log",
    localrule: True
    run:
        steps.connect(SESSIONS.plan(wildcards.launch), log[0])
