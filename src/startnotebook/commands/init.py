"""``startnotebook init [DIR]``: a project of declared sessions, laid out as Snakemake's workflow
template lays out a project that uses a workflow as a module (as ``snakedeploy deploy-workflow``
writes one). Existing files are never overwritten: if any is there, nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidRequest, SessionFolderError
from ..cli import OneLineErrorParser

SNAKEFILE = '''\
# The sessions of this project, launched by the startnotebook workflow (installed with the
# startnotebook package) used as a Snakemake module. From this folder:
#   snakemake --profile slurm notebook_NAME     # on the cluster (the site's profile, installed
#                                               # as /etc/xdg/snakemake/slurm or ~/.config/...)
#   snakemake notebook_NAME                     # on this machine
#   startnotebook --name NAME                   # the same session, with startnotebook's messages
# NAME is a row of config/sessions.tsv; the site's settings come from the profile.
from startnotebook import resources
from startnotebook.snakefile import abandon_unfinished


configfile: "config/config.yaml"


module startnotebook:
    snakefile:
        str(resources.snakefile())
    config:
        config


use rule * from startnotebook


# A launch that fails or is interrupted leaves no job behind (Snakemake runs only the main
# Snakefile's onerror, not the module's).
onerror:
    abandon_unfinished()
'''

WORKFLOW_PROFILE = '''\
# Snakemake applies this profile by itself (workflow/profiles/default, next to the Snakefile),
# whichever profile is given with --profile: the launch's rules run in Snakemake's own threads.
force-use-threads: true
cores: 1
rerun-incomplete: true
'''

CONFIG = '''\
# The sessions of this project are the rows of the sessions sheet (schemas/session.schema.yaml
# of startnotebook says what each column may be). Site settings (backend, flavours, folders,
# container, TLS) are not set here: they come from the profile's site.yaml.
sessions_sheet: config/sessions.tsv
'''

SHEET = (
    "name\tflavor\tkernel_timeout\tnotebook_timeout\timage\tnotebooks\n"
    "my-analysis\tsmall\t600\t3600\t\t\n"
)

FILES = {
    Path("workflow/Snakefile"): SNAKEFILE,
    Path("workflow/profiles/default/config.yaml"): WORKFLOW_PROFILE,
    Path("config/config.yaml"): CONFIG,
    Path("config/sessions.tsv"): SHEET,
}


def write_project(folder: Path) -> list[Path]:
    existing = [folder / path for path in FILES if (folder / path).exists()]
    if existing:
        raise InvalidRequest(f"{existing[0]} exists already; init writes a project only where "
                             "none of its files is (nothing was written)")
    written = []
    try:
        for path, text in FILES.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            with open(folder / path, "x") as stream:
                stream.write(text)
            written.append(folder / path)
    except OSError as error:
        raise SessionFolderError(f"cannot write the project in {folder}: {error.strerror}") from error
    return written


def main(argv: list[str]) -> int:
    command = OneLineErrorParser(
        prog="startnotebook init", description="Write a project of declared sessions "
        "(config/sessions.tsv) that Snakemake launches with `snakemake --profile slurm notebook_NAME`.")
    command.add_argument("folder", nargs="?", default=".", help="where (default: here)")
    args = command.parse_args(argv)
    folder = Path(args.folder)
    for path in write_project(folder):
        print(f"wrote {path}")
    print(f"Sessions are the rows of {folder / 'config/sessions.tsv'}. From {folder}:\n"
          "  snakemake --profile slurm notebook_my-analysis   (the site's profile, installed as\n"
          "                                                   /etc/xdg/snakemake/slurm or ~/.config/...)\n"
          "  snakemake notebook_my-analysis                   (on this machine)\n"
          "  startnotebook --name my-analysis                 (either, with startnotebook's messages)")
    return 0
