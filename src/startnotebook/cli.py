"""The ``startnotebook`` command, a thin layer over one module per command (commands/): every
option is parsed here, and each command module's ``run`` gets them as typed values.

``startnotebook [options]`` launches, exactly as the original tool did; ``startnotebook COMMAND``
runs one of the session commands. A session may be called like a command
(``startnotebook --name list`` launches the session "list").
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Callable

from . import __version__
from .errors import StartNotebookError


@dataclass(frozen=True)
class Command:
    """``startnotebook NAME``: the module that runs it (commands/MODULE.py, imported only when
    run), what it does, and its options (``--profile``, which picks the site, is every one's
    but init's)."""

    module: str
    summary: str
    description: str
    options: Callable[[argparse.ArgumentParser], None]
    on_a_site: bool = True

    def load(self):
        from importlib import import_module

        return import_module(f".commands.{self.module}", __package__)


def _as_json(schema: str) -> Callable[[argparse.ArgumentParser], None]:
    return lambda parser: parser.add_argument("--json", dest="as_json", action="store_true",
                                              help=f"JSON (schemas/{schema})")


def _named(*more: Callable[[argparse.ArgumentParser], None]) -> Callable[[argparse.ArgumentParser], None]:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")
        for option in more:
            option(parser)

    return options


def _list_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", dest="every", action="store_true",
                        help="also the sessions that ended or failed")
    _as_json("list.schema.json")(parser)


def _logs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--follow", action="store_true", help="follow it until the session ends")
    parser.add_argument("--workflow", action="store_true", help="the workflow's log instead")


def _usage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="DATE", help="only launches started on or after DATE (2026-11-01)")
    parser.add_argument("--source", choices=("auto", "records", "accounting"), default="auto",
                        help="launch records, or the batch system's accounting (auto: accounting where the "
                        "cluster keeps it)")
    _as_json("usage.schema.json")(parser)


def _init_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", default=".", help="where (default: here)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    # run picks its profile itself: Snakemake is given the profile's path, not only its site.
    parser.add_argument("--profile", help="Snakemake profile, e.g. slurm (default: "
                        "$SNAKEMAKE_PROFILE, else this machine)")
    parser.add_argument("name", help="the session: a row of the project's config/sessions.tsv")
    parser.add_argument("--project", dest="project_dir", metavar="DIR", help="the project (default: the current directory)")
    parser.add_argument("--notebook", dest="notebooks", metavar="FILE", action="append", default=[],
                        help="run this notebook of the session folder only (repeatable; default: "
                        "the session's notebooks)")
    parser.add_argument("--param", dest="params", metavar="KEY=VALUE", action="append", default=[],
                        help="a parameter over the row's (VALUE read as YAML: n=3 is the number 3)")
    parser.add_argument("--run-timeout", metavar="S", help="stop a notebook's run after S seconds "
                        "(default: the row's run_timeout, else the flavour's wall time)")
    parser.add_argument("--force", action="store_true", help="run even what is up to date")
    parser.add_argument("--check", action="store_true", help="show the jobs it would run; run none")


#: startnotebook COMMAND: the command module that runs it, and its options.
COMMANDS = {
    "list": Command("list_sessions", "your sessions",
                    "The user's sessions: running and pending ones (--all: every one).", _list_options),
    "info": Command("info", "URL, password, tunnel, job of one session",
                    "One session: its URL, password, SSH tunnel, job, resources, logs.",
                    _named(_as_json("info.schema.json"))),
    "stop": Command("stop", "stop a session",
                    "Stop a session: its server shuts its kernels down, its job ends.", _named()),
    "logs": Command("logs", "a session's server log",
                    "A session's server log (every launch's, oldest first).", _named(_logs_options)),
    "usage": Command("usage", "core-hours and memory used",
                     "Core-hours and memory GB-hours the user's sessions used.", _usage_options),
    "init": Command("init", "a project of declared sessions",
                    "Write a project of declared sessions (config/sessions.tsv) that Snakemake "
                    "launches with `snakemake --profile slurm notebook_NAME`.", _init_options,
                    on_a_site=False),
    "run": Command("run", "a declared session's notebooks executed as batch jobs",
                   "Execute the notebooks of a declared session top to bottom as batch jobs (one "
                   "per notebook), in its image, with its parameters; outputs in the session "
                   "folder's executed/. Runs the project's target executed_NAME.", _run_options,
                   on_a_site=False),
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
        epilog="commands: " + "; ".join(f"startnotebook {name} ({command.summary})"
                                        for name, command in COMMANDS.items())
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


def command_parser(name: str) -> argparse.ArgumentParser:
    command = COMMANDS[name]
    parser = OneLineErrorParser(prog=f"startnotebook {name}", description=command.description)
    if command.on_a_site:
        parser.add_argument("--profile", help="Snakemake profile whose site settings apply "
                            "(default: $SNAKEMAKE_PROFILE, else this machine)")
    command.options(parser)
    return parser


def _run_command(name: str, argv: list[str]) -> int:
    """``startnotebook NAME ...``: its options parsed here, the site its ``--profile`` names
    loaded here, the rest done by its module's ``run``."""
    options = vars(command_parser(name).parse_args(argv))
    command = COMMANDS[name]
    if not command.on_a_site:
        return command.load().run(**options)
    from .launch.request import load_profile_site

    site = load_profile_site(options.pop("profile"))
    return command.load().run(site, **options)


def _launch(argv: list[str]) -> int:
    from .launch.request import LaunchRequest

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
            return _run_command(argv[0], argv[1:])
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
