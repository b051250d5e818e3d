# notebook_NAME: launch the session NAME (or show it, if it runs already).

for _name in SESSIONS:

    rule:
        name:
            f"notebook_{_name}"
        input:
            pattern("connection").replace("{name}", _name),
        localrule: True
        shell:
            "{PYTHON:q} -m startnotebook.steps show {input:q}"
