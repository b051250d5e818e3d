"""snakemake-executor-plugin-slurm, with its wait between status checks capped.

The SLURM plugin (2.8) waits 10 s longer before each status check that finds no job finished
(2, 12, 22, 32 s ... up to 180 s), with no setting to bound it: a 30-second notebook rerun by
``startnotebook run`` ended ~45 s after its submission and was seen ended at 68 s, 23 s that the
user waits for nothing. Its own documentation meant Snakemake's ``--seconds-between-status-checks``
to bound these waits (the TODO left in its docs, snakemake-executor-plugin-slurm PR #237, issue
#319); this executor is that plugin with exactly that one change, and everything else (submission,
resources, the job step inside the job, cancelling, its settings) is the plugin's own.

Used by the shipped SLURM profile (``executor: slurm-capped``); its settings are the plugin's,
named ``slurm-capped-<setting>`` as Snakemake names an executor's settings. Drop it, and go back
to ``executor: slurm``, once the plugin bounds its waits itself.
"""

from snakemake_executor_plugin_slurm import Executor as SlurmExecutor
from snakemake_executor_plugin_slurm import ExecutorSettings, common_settings

__all__ = ["Executor", "ExecutorSettings", "common_settings"]


class Executor(SlurmExecutor):
    # The plugin's property (Snakemake's RemoteExecutor's), read as it is, set through the cap.
    @SlurmExecutor.next_seconds_between_status_checks.setter
    def next_seconds_between_status_checks(self, seconds):
        SlurmExecutor.next_seconds_between_status_checks.fset(self, capped_wait(seconds, self.longest_wait))

    @property
    def longest_wait(self) -> int:
        """Snakemake's --seconds-between-status-checks (its default: 10 s)."""
        return self.workflow.remote_execution_settings.seconds_between_status_checks


def capped_wait(seconds, longest: int):
    """The plugin's next wait, never longer than ``longest`` (None: the plugin has not chosen)."""
    return None if seconds is None else min(seconds, longest)
