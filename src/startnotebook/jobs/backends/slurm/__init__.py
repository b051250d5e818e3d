"""SLURM, and only here: the backend on the login node (backend.py: sbatch, squeue, scancel, sacct,
its states and pending reasons, a flavour's sbatch options) and what a job learns from SLURM inside
it (in_job.py: its id, its real end, its restarts; standard library only, for it runs in the job).
"""
