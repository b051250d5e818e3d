"""A declared session's rerun (the target executed_NAME, ``startnotebook run``): the Snakefile's
side (run_targets), a notebook's job and its record (runs), papermill where the kernel runs
(executing)."""
