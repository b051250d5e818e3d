"""The ``startnotebook`` command: options in, one command module out (launch or check)."""

from __future__ import annotations

import argparse
import sys

from . import __version__, check, launch
from .errors import StartNotebookError
from .request import LaunchRequest


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad options get one line, like every other error of the command."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="startnotebook",
        description="Start a Jupyter notebook server as a batch job and print its URL and password. "
        "Everything of the session lives in ~/NAME/ and outlasts the job.",
    )
    parser.add_argument("--name", help="session name and folder ~/NAME (default: notebook-<random>)")
    parser.add_argument("--flavor", help="resources: small (1 core, 8 GB) or medium (4 cores, 32 GB); "
                        "the table is site config (default: small)")
    parser.add_argument("--kernel-timeout", metavar="S",
                        help="shut down a kernel idle for S seconds, even with a tab open (default: 600)")
    parser.add_argument("--notebook-timeout", metavar="S",
                        help="stop the server once no kernel has existed for S seconds (default: 600)")
    parser.add_argument("--check", action="store_true",
                        help="dry run: show the resources and what would be started; start nothing")
    parser.add_argument("--verbose", action="store_true",
                        help="show the output of the background processes while waiting")
    parser.add_argument("--json", action="store_true", help="print the connection JSON instead of the text")
    parser.add_argument("--profile", help="Snakemake profile, e.g. slurm (default: $SNAKEMAKE_PROFILE, else local)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    request = LaunchRequest(
        **{key: value for key, value in {
            "name": args.name,
            "flavor": args.flavor,
            "kernel_timeout": args.kernel_timeout,
            "notebook_timeout": args.notebook_timeout,
            "profile": args.profile,
        }.items() if value is not None}
    )
    try:
        if args.check:
            return check.run(request)
        return launch.run(request, verbose=args.verbose, as_json=args.json)
    except StartNotebookError as error:
        print(f"startnotebook: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
