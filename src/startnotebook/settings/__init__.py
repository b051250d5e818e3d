"""What the site and the project say, read in the order a launch reads them: the Snakemake
profile (profiles), the site's settings in it (config), a project's sessions sheet (project), and
from those one session's checked settings (session_settings); reading holds what they share
(YAML, schema validation, ASCII numbers)."""
