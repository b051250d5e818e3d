# What a launch needs before anything is started: its settings, a password, the Jupyter config.


rule session_settings:
    output:
        pattern("settings"),
    params:
        settings=lambda wildcards: SESSIONS[wildcards.name].to_json(),
    localrule: True
    shell:
        "{PYTHON:q} -m startnotebook.steps settings {params.settings:q} {output:q}"


rule credentials:
    input:
        pattern("settings"),
    output:
        pattern("password"),
    localrule: True
    shell:
        "{PYTHON:q} -m startnotebook.steps credentials {input:q} {output:q}"


rule jupyter_config:
    input:
        settings=pattern("settings"),
        password=pattern("password"),
    output:
        pattern("jupyter_config"),
    localrule: True
    shell:
        "{PYTHON:q} -m startnotebook.steps jupyter-config {input.settings:q} {input.password:q} "
        "{output:q}"
