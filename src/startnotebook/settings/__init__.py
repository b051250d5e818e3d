"""What the site and the project say: the site's settings and flavours (config), the Snakemake
profiles they come from (profiles), a project's sessions sheet (project)."""
