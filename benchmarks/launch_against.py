"""SLURM launches of two checkouts side by side, against a bare sbatch of Jupyter, in one run.

    .venv/bin/python benchmarks/launch_against.py OTHER_CHECKOUT [--rounds 12]

Needs root, as launch_time.py. OTHER_CHECKOUT is another clone of startnotebook with its own
``make install`` (e.g. an older commit); this checkout's launch and the other's run on one test
cluster, round by round (bare sbatch first, then both in alternating order), each by its own
ordinary user with its own copy of its shipped SLURM profile. On this shared 2-core machine a
ratio from one launch_time.py run can move by 0.3 between runs; side by side, a regression shows
against the other checkout in the same minutes (how 1.18 against 0.80 of 058848a, measured in
two runs an hour apart, turned out to be the machine: side by side, 0.76 against 0.81, 0.89
against 0.94, 0.83 against 0.69).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from launch_time import (LAUNCH_CPU, REPO, Account, RoomyCluster, bare_sbatch, launch_slurm, slurm_profile,
                         test_cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another startnotebook checkout, installed")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    checkouts = {"this": REPO, "other": args.other.resolve()}
    test_cluster.set_up_network()
    test_cluster.join_hub()
    state = Path(tempfile.mkdtemp(prefix="startnotebook-bench-"))
    state.chmod(0o755)
    cluster = RoomyCluster(state).start()
    users = {what: Account(f"ln-against-{what}", slurm_conf=cluster.conf, bin_dir=checkout / ".venv/bin")
             for what, checkout in checkouts.items()}
    seconds = {"bare": [], "this": [], "other": []}
    cpu = {"this": [], "other": []}
    try:
        for what, user in users.items():
            slurm_profile(user, checkouts[what])
        for index in range(args.rounds):
            seconds["bare"].append(bare_sbatch(users["this"], cluster, index))
            for what in (["this", "other"] if index % 2 == 0 else ["other", "this"]):
                seconds[what].append(launch_slurm(users[what], index, checkouts[what] / ".venv/bin/startnotebook"))
                cpu[what].append(LAUNCH_CPU.pop())  # what that launch cost, as launch_time records it
    finally:
        for user in users.values():
            user.kill_processes()
        cluster.stop()
        for user in users.values():
            user.remove()
        shutil.rmtree(state, ignore_errors=True)
        test_cluster.tear_down_network()
    bare = statistics.median(seconds["bare"])
    print(f"{args.rounds} rounds, medians; bare sbatch + jupyter server {bare:.2f} s")
    for what in ("this", "other"):
        median = statistics.median(seconds[what])
        print(f"  {what:5} {checkouts[what]}: {median:.2f} s, launch / bare {median / bare:.2f}, "
              f"CPU {statistics.median(cpu[what]):.2f} CPU-s")


if __name__ == "__main__":
    main()
