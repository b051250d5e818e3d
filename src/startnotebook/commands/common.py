"""What the session commands share: their options, the site, and finding a session by name."""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import OneLineErrorParser
from ..config import Site
from ..errors import UnknownSession
from ..names import check_name
from ..request import load_profile_site
from ..session import Session


def parser(command: str, description: str) -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=f"startnotebook {command}", description=description)
    parser.add_argument("--profile", help="Snakemake profile whose site settings apply "
                        "(default: $SNAKEMAKE_PROFILE, else this machine)")
    return parser


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


def site_of(args) -> Site:
    return load_profile_site(args.profile)
