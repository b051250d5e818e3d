"""What the session commands share: finding a session by name, and printing JSON."""

from __future__ import annotations

import json
import sys

from ..errors import UnknownSession
from ..sessions.names import check_name
from ..sessions.session import Session
from ..settings.config import Site


def existing_session(site: Site, name: str) -> Session:
    """The session ``name``, which must have been launched before (to read or stop, not to
    launch: its path need not be trusted any more, see Session.find)."""
    session = Session.find(site, check_name(name), to_launch=False)
    if not session.exists:
        raise UnknownSession(f"no session {name} (no startnotebook records in {session.folder})")
    return session


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")
