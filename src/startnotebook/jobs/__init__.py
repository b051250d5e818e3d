"""Where and how a session's job runs: the job script (job), the batch systems behind one
interface (backends/), the container runtimes (containers), the session's image (image), the
project's environments as kernels (environments), the staging of their recipes (staging), and the
site's environment modules (modules)."""
