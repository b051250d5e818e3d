# Start the server through the configured backend, then wait until it answers.
# Both run as their own processes (see startnotebook/steps.py for why).


rule submit:
    input:
        settings=pattern("settings"),
        jupyter_config=pattern("jupyter_config"),
        image=image_to_build,
    output:
        pattern("job"),
    localrule: True
    shell:
        "{PYTHON:q} -m startnotebook.steps submit {input.settings:q} {output:q}"


rule connection:
    input:
        settings=pattern("settings"),
        job=pattern("job"),
        password=pattern("password"),
    output:
        pattern("connection"),
    localrule: True
    shell:
        "{PYTHON:q} -m startnotebook.steps connect {input.settings:q} {input.job:q} "
        "{input.password:q} {output:q}"
