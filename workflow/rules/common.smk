# Paths of a session's files, as wildcard patterns for the rules and as functions of a name.


def session_paths(name):
    return SessionPaths(Path(SESSIONS[name].folder))


def pattern(attribute):
    """The path `attribute` of SessionPaths for every session: a pattern with {name}."""
    root = Path(session_settings.session_folder(config, "{name}"))
    return str(getattr(SessionPaths(root), attribute))


wildcard_constraints:
    name="|".join(re.escape(name) for name in SESSIONS) or "(?!)",


# A launch whose job has ended leaves files behind; drop them so that the target runs afresh.
# Only the main process decides: jobs on other hosts see neither that job nor its state.
if workflow.is_main_process and not workflow.dryrun:
    for _name in SESSIONS:
        forget_if_ended(session_paths(_name))
