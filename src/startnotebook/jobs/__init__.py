"""Where and how a session's job runs: the job script (job), the batch systems behind one
interface (backends/), the container runtimes (containers) and the session's image (image)."""
