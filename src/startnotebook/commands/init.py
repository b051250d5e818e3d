"""``startnotebook init [DIR]``: a project of declared sessions, laid out as Snakemake's workflow
template lays out a project that uses a workflow as a module (as ``snakedeploy deploy-workflow``
writes one). Existing files are never overwritten: if any is there, nothing is written.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .. import resources
from ..errors import InvalidRequest, SessionFolderError

SNAKEFILE = '''\
# The sessions of this project, launched by the startnotebook workflow (installed with the
# startnotebook package) used as a Snakemake module. From this folder:
#   snakemake --profile slurm notebook_NAME     # on the cluster (the site's profile, installed
#                                               # as /etc/xdg/snakemake/slurm or ~/.config/...)
#   snakemake notebook_NAME                     # on this machine
#   startnotebook --name NAME                   # the same session, with startnotebook's messages
# NAME is a row of config/sessions.tsv; the site's settings come from the profile. snakemake is
# the one installed with startnotebook (next to the startnotebook command, e.g. in .venv/bin/):
# a Snakemake of another environment cannot import the startnotebook workflow.
from startnotebook import resources
from startnotebook.launch.snakefile import abandon_unfinished


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

WORKFLOW_PROFILE = Path("workflow/profiles/default/config.yaml")
PROJECT_FILE_MODE = 0o644
PROJECT_FOLDER_MODE = 0o755


def project_files() -> dict[Path, str]:
    """What init writes. The workflow profile is the installed workflow's own, word for word: a
    copy kept here would drift from it."""
    return {
        Path("workflow/Snakefile"): SNAKEFILE,
        WORKFLOW_PROFILE: (resources.workflow_profile() / "config.yaml").read_text(),
        Path("config/config.yaml"): CONFIG,
        Path("config/sessions.tsv"): SHEET,
    }


def installed_command(name: str) -> str:
    """How to type command ``name`` of this startnotebook's installation (e.g. its snakemake,
    whose Python can import startnotebook): the bare name where PATH finds that very file, else
    its path (a virtual environment's bin folder is rarely on PATH)."""
    ours = Path(sys.executable).parent / name
    if not ours.is_file():
        return name
    found = shutil.which(name)
    return name if found and Path(found).resolve() == ours.resolve() else str(ours)


def write_project(folder: Path) -> list[Path]:
    files = project_files()
    existing = [folder / path for path in files if (folder / path).exists()]
    if existing:
        raise InvalidRequest(f"{existing[0]} exists already; init writes a project only where "
                             "none of its files is (nothing was written)")
    written = []
    try:
        folder.mkdir(mode=PROJECT_FOLDER_MODE, parents=True, exist_ok=True)
        for path, text in files.items():
            # Modes of their own, not the umask's: under a group-writable umask (002, common on
            # clusters) the project's config would be others' to change, and refused as such.
            (folder / path).parent.mkdir(mode=PROJECT_FOLDER_MODE, parents=True, exist_ok=True)
            fd = os.open(folder / path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PROJECT_FILE_MODE)
            with os.fdopen(fd, "w") as stream:
                stream.write(text)
            written.append(folder / path)
    except OSError as error:
        raise SessionFolderError(f"cannot write the project in {folder}: {error.strerror}") from error
    return written


def next_steps(folder: Path) -> str:
    snakemake, startnotebook = installed_command("snakemake"), installed_command("startnotebook")
    lines = [f"Sessions are the rows of {folder / 'config/sessions.tsv'}. From {folder}:",
             f"  {snakemake} --profile slurm notebook_my-analysis",
             "      on the cluster (the site's profile, installed as /etc/xdg/snakemake/slurm or",
             "      ~/.config/snakemake/slurm)",
             f"  {snakemake} notebook_my-analysis",
             "      on this machine",
             f"  {startnotebook} --name my-analysis",
             "      either, with startnotebook's messages"]
    if snakemake != "snakemake":
        lines += [f"({snakemake}: the Snakemake installed with startnotebook, not on your PATH;",
                  " a Snakemake of another environment cannot import the startnotebook workflow.)"]
    return "\n".join(lines)


def run(folder: str = ".") -> int:
    folder = Path(folder)
    for path in write_project(folder):
        print(f"wrote {path}")
    print(next_steps(folder))
    return 0

