"""The overhead of `startnotebook run` against a bare batch job executing the same notebook.

    .venv/bin/python benchmarks/run_time.py [--rounds 3] [--seconds 30]

Needs root: it brings up the test cluster (tests/cluster/) and runs everything as an ordinary user
it creates, with the shipped SLURM profile. Measured, interleaved round by round so that a noisy
moment hits both sides alike, on a notebook whose one cell sleeps ``--seconds``:

* ``startnotebook run NAME --profile slurm --force`` (a project's row; one batch job through
  snakemake-executor-plugin-slurm, which Snakemake waits for) until it exits, and the login node's
  CPU for it (``getrusage`` of the command and everything it waited for);
* ``sbatch --wait --wrap "jupyter nbconvert --execute --to notebook ..."`` of the same notebook
  until it exits.

Target (issue "Reproduce a declared session"): run <= bare + 15 s. The executor's status settings
decide much of the difference: the first status check waits the plugin's
``init-seconds-before-status-checks`` (profiles/slurm sets 2 s), then the plugin adds 10 s to each
wait, which the profile's executor (slurm-capped) never lets grow past Snakemake's
``seconds-between-status-checks`` (10 s); the benchmark prints the profile's values. ``sbatch
--wait`` has its own polling (2, 8, then 32 s sleeps), which the bare figure includes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from launch_time import BIN, REPO, Account, run_measured, slurm_profile, test_cluster


def sleeping_notebook(seconds: int) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {"tags": tags}, "outputs": [],
              "source": source} for source, tags in ((f"seconds = {seconds}", ["parameters"]),
                                                      ("import time\ntime.sleep(seconds)", []))]
    return json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                   "language": "python"}},
                       "nbformat": 4, "nbformat_minor": 5})


def make_project(user: Account, seconds: int) -> Path:
    project = user.home / "project"
    user.run("mkdir", "-p", str(project / "notebooks"))
    if user.run(str(BIN / "startnotebook"), "init", cwd=project).returncode != 0:
        raise RuntimeError("startnotebook init failed")
    (project / "notebooks" / "sleep.ipynb").write_text(sleeping_notebook(seconds))
    (project / "config" / "sessions.tsv").write_text(
        "name\tflavor\tkernel_timeout\tnotebook_timeout\timage\tnotebooks\n"
        "bench\ttiny\t600\t600\t\tnotebooks/sleep.ipynb\n")
    # Written here as root: the user's own, as a project must be (startnotebook refuses others').
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(project)], check=True)
    return project


def run_once(user: Account, project: Path) -> tuple[float, float]:
    start = time.monotonic()
    code, _, err, cpu = run_measured(user, str(BIN / "startnotebook"), "run", "bench", "--project", str(project),
                                     "--profile", "slurm", "--force")
    if code != 0:
        raise RuntimeError(err[-2000:])
    return time.monotonic() - start, cpu


def bare_once(user: Account, folder: Path, index: int) -> float:
    command = (f"{BIN / 'jupyter-nbconvert'} --execute --to notebook --output bare-{index}.ipynb "
               f"{folder / 'sleep.ipynb'}")
    start = time.monotonic()
    done = user.run("sbatch", "--wait", "--output=/dev/null", "--cpus-per-task=1", "--mem=512M",
                    f"--chdir={folder}", f"--wrap={command}", timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return time.monotonic() - start


def plugin_settings() -> dict:
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    return {key: value for key, value in profile.items()
            if key in ("executor", "seconds-between-status-checks") or key.startswith("slurm")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=30, help="how long the notebook runs")
    args = parser.parse_args()
    try:
        test_cluster.set_up_network()
    except test_cluster.NetworkInUse as error:
        sys.exit(f"run_time: {error}")
    test_cluster.join_hub()
    state = Path(tempfile.mkdtemp(prefix="startnotebook-bench-"))
    state.chmod(0o755)
    cluster, user, runs, bare, cpu = None, None, [], [], []
    try:
        cluster = test_cluster.Cluster(state).start()
        user = Account("run-bench", slurm_conf=cluster.conf, bin_dir=BIN)
        slurm_profile(user)
        project = make_project(user, args.seconds)
        run_once(user, project)  # the first run puts the notebook into the session folder
        for index in range(args.rounds):
            elapsed, used = run_once(user, project)
            runs.append(elapsed)
            cpu.append(used)
            bare.append(bare_once(user, user.home / "bench", index))
    finally:
        if user is not None:
            user.run("scancel", "-u", user.name)
            user.kill_processes()
        if cluster is not None:
            cluster.stop()
        if user is not None:
            user.remove()
        shutil.rmtree(state, ignore_errors=True)
        test_cluster.tear_down_network()
    run, plain = statistics.median(runs), statistics.median(bare)
    print(f"a {args.seconds} s notebook, {args.rounds} rounds (medians); executor plugin: {plugin_settings()}")
    print(f"  startnotebook run --profile slurm   {run:6.1f} s   login-node CPU {statistics.median(cpu):.2f} s")
    print(f"  bare sbatch --wait nbconvert        {plain:6.1f} s")
    print(f"  overhead                            {run - plain:6.1f} s   (target <= 15 s)")


if __name__ == "__main__":
    main()
