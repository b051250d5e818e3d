# notebook_NAME: launch the session NAME, or show how to reach it if it runs already.

for _name in SESSIONS.names:

    rule:
        name:
            f"notebook_{_name}"
        input:
            lambda wildcards, name=_name: SESSIONS.target_input(name),
        log:
            SESSIONS.target_log(_name),
        localrule: True
        run:
            SESSIONS.report(rule.removeprefix("notebook_"), log[0])
