"""Run a session's server from the Jupyter config its launch wrote (see job.py), then record
how it ended."""

from __future__ import annotations

import sys

from ..quick_imports import skip_iri_format_checker


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -P -m startnotebook.server LAUNCH/jupyter_config.json", file=sys.stderr)
        return 2
    skip_iri_format_checker()
    from .app import SessionServerApp

    SessionServerApp.launch_instance([f"--SessionServerApp.session_config_file={argv[0]}"])
    SessionServerApp.instance().record_end()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
