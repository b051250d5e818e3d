"""One module per command of ``startnotebook``; each has ``run(...)`` returning the exit code."""
