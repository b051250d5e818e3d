# startnotebook: a Jupyter notebook in a batch job.
#
# One launch is the target `notebook_NAME` of a session declared in the config, e.g.
#   snakemake --configfile my-sessions.yaml notebook_my-research
# The rules, in the order they run (workflow/rules/):
#   image.smk     image (the container image from envs/notebook, when the config asks for one)
#   session.smk   session_settings -> credentials -> jupyter_config
#   submit.smk    submit (through the configured backend) -> connection
#   targets.smk   notebook_NAME: prints the URL and the password
# The logic lives in the Python package workflow/startnotebook, which the rules call.

import os
import re
import sys
from pathlib import Path

# The package next to this Snakefile wins over an installed copy of another version.
_source = Path(workflow.basedir) / "workflow"
if (_source / "startnotebook").is_dir():
    sys.path.insert(0, str(_source))

from snakemake.utils import validate

from startnotebook import resources

from startnotebook import settings as session_settings
from startnotebook.errors import StartNotebookError
from startnotebook.session import SessionPaths
from startnotebook.state import forget_if_ended


configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


validate(config, "schemas/config.schema.yaml")

try:
    SESSIONS = {
        name: session_settings.resolve_session(config, name)
        for name in (config.get("sessions") or {})
    }
except StartNotebookError as error:
    raise WorkflowError(f"startnotebook: {error}")

# The steps that run as processes import the same package.
PYTHON = sys.executable
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(resources.package_parent()), os.environ.get("PYTHONPATH")])
)


include: "workflow/rules/common.smk"
include: "workflow/rules/image.smk"
include: "workflow/rules/session.smk"
include: "workflow/rules/submit.smk"
include: "workflow/rules/targets.smk"
