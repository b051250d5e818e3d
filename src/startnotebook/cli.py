"""The ``startnotebook`` command: options in, one command module out (commands/).

``startnotebook [options]`` launches, exactly as the original tool did; ``startnotebook COMMAND``
runs one of the session commands. A session may be called like a command
(``startnotebook --name list`` launches the session "list").
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .errors import StartNotebookError


def _command(module: str):
    def load():
        from importlib import import_module

        return import_module(f".commands.{module}", __package__)

    return load


#: startnotebook COMMAND: the module that runs it, and what it does.
COMMANDS = {
    "list": (_command("list_sessions"), "your sessions"),
    "info": (_command("info"), "URL, password, tunnel, job of one session"),
    "stop": (_command("stop"), "stop a session"),
    "logs": (_command("logs"), "a session's server log"),
    "usage": (_command("usage"), "core-hours and memory used"),
    "init": (_command("init"), "a project of declared sessions"),
    "run": (_command("run"), "a declared session's notebooks executed as batch jobs"),
}


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad options get one line, like every other error of the command."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def launch_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="startnotebook",
        description="Start a Jupyter notebook server as a batch job and print its URL and password. "
        "Everything of the session lives in ~/NAME/ and outlasts the job.",
        epilog="commands: " + "; ".join(f"startnotebook {name} ({text})"
                                        for name, (_, text) in COMMANDS.items())
        + ". See startnotebook COMMAND -h.",
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
                        help="show the output of the workflow and the server while waiting")
    parser.add_argument("--json", action="store_true", help="print the connection JSON instead of the text")
    parser.add_argument("--profile", help="Snakemake profile, e.g. slurm (default: $SNAKEMAKE_PROFILE, "
                        "else this machine)")
    parser.add_argument("--tls", action="store_true", default=None,
                        help="serve over HTTPS with the session's own certificate (or the site's)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _launch(argv: list[str]) -> int:
    from .request import LaunchRequest

    args = launch_parser().parse_args(argv)
    request = LaunchRequest(name=args.name, flavor=args.flavor, kernel_timeout=args.kernel_timeout,
                            notebook_timeout=args.notebook_timeout, profile=args.profile, tls=args.tls)
    if args.check:
        from .commands import check

        return check.run(request)
    from .commands import launch

    return leave_at_once(launch.run(request, verbose=args.verbose, as_json=args.json))


def leave_at_once(code: int) -> int:
    """Exit now: the URL is printed and every file closed. Tearing down what the in-process
    workflow imported (Snakemake, pandas, sqlalchemy) would keep the user waiting ~0.4 s more."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in COMMANDS:
            module, _ = COMMANDS[argv[0]]
            return module().main(argv[1:])
        return _launch(argv)
    except StartNotebookError as error:
        print(f"startnotebook: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("startnotebook: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has gone: nothing more to say, and nobody to say it to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
