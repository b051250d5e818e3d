"""How long a launch takes and how much it asks the controller, against bare Jupyter, in one run.

    .venv/bin/python benchmarks/launch_time.py [--rounds 5] [--no-slurm] [--concurrent 100] [--users 20]

Needs root: it brings up the test cluster (tests/cluster/) and runs everything as an ordinary user
it creates. Measured, interleaved round by round so that a noisy moment hits both sides alike:

* local: ``startnotebook --name X`` until it prints the URL, against the bare server a user would
  start by hand (``jupyter server``, same environment) until its login page answers; and the same
  again with ``SLURM_CONF`` naming a controller that does not answer (a stale config: a local
  launch must not wait on it);
* the login node's CPU per launch: ``getrusage`` of the launch command and everything it waited
  for (not the local server, which it does not wait for);
* SLURM: ``startnotebook --profile slurm`` against a bare ``sbatch --wrap 'jupyter server ...'``
  until its login page answers;
* controller RPCs of one launch, from ``sdiag`` (by user): a job that starts at once, and one that
  waits 20 s in the queue; the job's own look at its end (from its node) counted apart;
* ``startnotebook --check``;
* ``--concurrent`` launches at once (default 100; on a cluster advertising 64 CPUs per node), once
  by one user with that many names and once by ``--users`` users with an equal share each: p50
  and p95 against a lone launch and against the CPU floor (the launch commands' CPU / cores), the
  launch commands' CPU (login side, per launch) apart from the servers' (on the nodes), and the
  servers' memory;
* ``list`` of that one user's sessions once 80 % of them ended (``stop``) and 20 % run: seconds,
  and how many ``squeue`` it ran;
* ``list`` of 100 sessions of another user, whatever ``--concurrent`` says: 20 running (launched
  at once, SLURM jobs; local servers with ``--no-slurm``), 80 ended (one stopped launch's
  records, copied under 80 names).

Targets (issues "One launch, one process" and "A lean launch"): SLURM / bare <= 0.9, local / bare
<= 1.2 also with a dead controller configured, CPU per launch <= 1.0 s (stretch 0.6), RPCs 1 (at
once) and <= 4 (after a 20 s wait), --check <= 1 s, ``list`` of 100 <= 1 s with one squeue. The
machines are shared and noisy: compare ratios from the same run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "cluster")]
import cluster as test_cluster  # noqa: E402
from accounts import Account  # noqa: E402

BIN = Path(sys.executable).parent
# An address of the test network where nothing listens (see stale_slurm_conf).
NOBODY = "10.250.77.250"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for_login(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with DIRECT.open(url + "/login", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jupyter_server_argv(port: int, ip: str, root: Path) -> list[str]:
    """The server a user would start by hand: stock `jupyter server`, its default extensions."""
    return [str(BIN / "jupyter-server"), f"--ip={ip}", f"--port={port}", "--no-browser",
            f"--ServerApp.root_dir={root}", "--IdentityProvider.token=benchmark"]


# --- one measurement each ----------------------------------------------------------------------
def bare_local(user: Account, index: int, env: dict | None = None) -> float:
    port = free_port()
    root = user.home / f"bare-{index}"
    user.run("mkdir", "-p", str(root))
    start = time.monotonic()
    server = subprocess.Popen(user.as_user(*jupyter_server_argv(port, "127.0.0.1", root)),
                              env={**user.env, **(env or {})}, cwd=user.home, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_login(f"http://127.0.0.1:{port}")
        return time.monotonic() - start
    finally:
        subprocess.run(["pkill", "-TERM", "-s", str(server.pid)])
        server.wait()


def run_measured(user: Account, *argv: str, env: dict | None = None) -> tuple[int, str, str, float]:
    """Run a command as the user: exit code, output, errors, and the CPU seconds (user + system)
    of that process and everything it waited for, from its own rusage (``wait4``), so that
    commands run at once in threads are measured apart."""
    process = subprocess.Popen(user.as_user(*argv), env={**user.env, **(env or {})}, cwd=user.home,
                               text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    out, err = _read_both(process)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, out, err, usage.ru_utime + usage.ru_stime


def _read_both(process: subprocess.Popen) -> tuple[str, str]:
    import threading

    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))
    reader.start()
    out = process.stdout.read()
    reader.join()
    return out, errors[0]


LAUNCH_CPU: list[float] = []  # CPU seconds of each launch measured one at a time


def startnotebook(user: Account, *options: str, env: dict | None = None,
                  program: Path = BIN / "startnotebook") -> tuple[float, dict]:
    start = time.monotonic()
    code, out, err, cpu = run_measured(user, str(program), *options, "--json", env=env)
    elapsed = time.monotonic() - start
    if code != 0:
        raise RuntimeError(err)
    LAUNCH_CPU.append(cpu)
    return elapsed, json.loads(out)


def stale_slurm_conf(user: Account) -> Path:
    """A SLURM config naming a controller that does not answer (a laptop's stale config, a
    controller restarting), readable by the user."""
    conf = user.home / "stale-slurm.conf"
    conf.write_text(f"ClusterName=gone\nSlurmctldHost=gone({NOBODY})\nSlurmctldPort=6899\n"
                    f"NodeName=n1 NodeAddr={NOBODY} CPUs=1 State=UNKNOWN\n"
                    "PartitionName=all Nodes=n1 Default=YES\n")
    conf.chmod(0o644)
    return conf


def launch_local(user: Account, name: str, env: dict | None = None) -> float:
    elapsed, connection = startnotebook(user, "--name", name, "--notebook-timeout", "60", env=env)
    subprocess.run(["pkill", "-TERM", "-s", connection["job_id"]])
    return elapsed


def bare_sbatch(user: Account, cluster: test_cluster.Cluster, index: int) -> float:
    port = free_port()
    root = user.home / f"bare-slurm-{index}"
    user.run("mkdir", "-p", str(root))
    node, address = next(iter(test_cluster.NODES.items()))
    command = " ".join(jupyter_server_argv(port, "0.0.0.0", root))
    start = time.monotonic()
    submitted = user.run("sbatch", "--parsable", f"--nodelist={node}", "--output=/dev/null",
                         f"--chdir={root}", f"--wrap=exec {command}")
    if submitted.returncode != 0:
        raise RuntimeError(submitted.stderr)
    try:
        wait_for_login(f"http://{address}:{port}")
        return time.monotonic() - start
    finally:
        user.run("scancel", submitted.stdout.strip().split(";")[0])


def launch_slurm(user: Account, index: int, program: Path = BIN / "startnotebook") -> float:
    elapsed, connection = startnotebook(user, "--profile", "slurm", "--name", f"slurm-{index}", program=program)
    user.run("scancel", connection["job_id"])
    return elapsed


# --- controller calls --------------------------------------------------------------------------
def rpcs_of(user: Account, cluster: test_cluster.Cluster) -> int:
    out = subprocess.run(["sdiag"], env=cluster.env, capture_output=True, text=True).stdout
    by_user = out.split("Remote Procedure Call statistics by user", 1)[1]
    match = re.search(rf"^\s*{re.escape(user.name)}\s*\(\s*{user.uid}\)\s*count:\s*(\d+)", by_user, re.M)
    return int(match.group(1)) if match else 0


def rpcs_of_a_launch(user: Account, cluster: test_cluster.Cluster, name: str, wait: int) -> int:
    if wait:
        # Every CPU of both nodes busy for `wait` seconds: the launch waits in the queue.
        subprocess.run(["sbatch", "--nodes=2", "--exclusive", "--output=/dev/null",
                        f"--wrap=sleep {wait}"], env=cluster.env, check=True, capture_output=True)
        time.sleep(1)
    before = rpcs_of(user, cluster)
    _, connection = startnotebook(user, "--profile", "slurm", "--name", name)
    # The job's own look at its end (its server asks `scontrol show job` once, from the node) is
    # the session's clock, not the launch: wait for it, then count it apart by what the same look
    # costs made by hand (issue "A lean launch").
    server_log = user.home / name / ".startnotebook/logs/server.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "as the controller says" not in _text_of(server_log):
        time.sleep(0.5)
    calls = rpcs_of(user, cluster) - before
    before_look = rpcs_of(user, cluster)
    user.run("scontrol", "--oneliner", "show", "job", connection["job_id"])
    one_look = rpcs_of(user, cluster) - before_look
    user.run("scancel", connection["job_id"])
    return calls - one_look


def _text_of(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def concurrent_launches(users: list[Account], per_user: int, prefix: str) -> dict:
    """``per_user`` launches by each of ``users``, all at once: each one's seconds from the common
    start to its URL, each launch command's CPU seconds (login side), the servers' CPU seconds and
    memory (the processes the users still have once every launch returned: their servers)."""
    import threading

    started = time.monotonic()
    seconds: list[float] = []
    cpu: list[float] = []
    failures: list[str] = []
    urls: set[str] = set()

    def launch(user: Account, index: int) -> None:
        code, out, err, used = run_measured(user, str(BIN / "startnotebook"), "--profile", "slurm",
                                            "--name", f"{prefix}-{index}", "--flavor", "tiny", "--json")
        if code != 0:
            failures.append(err.strip().splitlines()[-1] if err.strip() else f"exit {code}")
            return
        seconds.append(time.monotonic() - started)
        cpu.append(used)
        urls.add(json.loads(out)["url"])

    threads = [threading.Thread(target=launch, args=(user, index)) for user in users for index in range(per_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count = len(threads)
    if failures or len(urls) != count:
        raise RuntimeError(f"{len(seconds)} of {count} launches succeeded, {len(urls)} distinct URLs: {failures[:3]}")
    server_cpu, server_rss = processes_cost(users)
    seconds.sort()
    return {"count": count, "seconds": seconds, "p50": statistics.median(seconds),
            "p95": seconds[max(0, round(0.95 * count) - 1)], "launch_cpu": cpu,
            "server_cpu": server_cpu, "server_rss_mb": server_rss}


def processes_cost(users: list[Account]) -> tuple[float, float]:
    """CPU seconds and resident MB of every process the users have now (their servers)."""
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    cpu = rss = 0.0
    for user in users:
        for pid in user.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime, stime, cutime, cstime are fields 14-17 of stat(5); rss is field 24.
            cpu += sum(int(value) for value in fields[11:15]) / ticks
            rss += int(fields[21]) * page / 2**20
    return cpu, rss


def list_of_many(user: Account, names: list[str], cluster: test_cluster.Cluster) -> tuple[float, int]:
    """``startnotebook list`` once 80 % of ``names`` ended and 20 % run: seconds, squeue calls
    (counted through a pass-through wrapper on PATH)."""
    for name in names[: len(names) * 4 // 5]:
        code, _, err, _ = run_measured(user, str(BIN / "startnotebook"), "stop", name)
        if code != 0:
            raise RuntimeError(err)
    return timed_list(user)


def timed_list(user: Account) -> tuple[float, int]:
    """``startnotebook list --all`` of every session the user has: seconds, and how many
    ``squeue`` it ran (counted through a pass-through wrapper on PATH)."""
    calls, shims = user.home / "squeue-calls", user.home / "shims"
    calls.unlink(missing_ok=True)
    shims.mkdir(exist_ok=True)
    shim = shims / "squeue"
    shim.write_text(f'#!/bin/sh\necho squeue >> {calls}\nexec /usr/bin/squeue "$@"\n')
    shim.chmod(0o755)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(shims)], check=True)
    env = {"PATH": f"{shims}:{user.env['PATH']}"}
    start = time.monotonic()
    code, out, err, _ = run_measured(user, str(BIN / "startnotebook"), "list", "--all", env=env)
    elapsed = time.monotonic() - start
    if code != 0:
        raise RuntimeError(err)
    squeues = len(calls.read_text().splitlines()) if calls.exists() else 0
    return elapsed, squeues


def list_of_a_hundred(user: Account, slurm: bool, count: int = 100, running: int = 20) -> tuple[float, int]:
    """``list --all`` of ``count`` sessions of which ``running`` run (real servers, launched at
    once: SLURM jobs with the cluster, local servers without it; long timeouts) and the others
    ended (one real launch, stopped, its launch record copied under the other names, as a user's
    past sessions are): seconds, and the ``squeue`` calls."""
    import threading

    options = ("--profile", "slurm", "--flavor", "tiny") if slurm else ()
    failures: list[str] = []

    def launch(name: str) -> None:
        code, _, err, _ = run_measured(user, str(BIN / "startnotebook"), *options, "--name", name,
                                       "--notebook-timeout", "3600", "--kernel-timeout", "3600")
        if code != 0:
            failures.append(err.strip().splitlines()[-1] if err.strip() else f"exit {code}")

    threads = [threading.Thread(target=launch, args=(f"listed-{index}",)) for index in range(running)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    launch("past-0")
    code, _, err, _ = run_measured(user, str(BIN / "startnotebook"), "stop", "past-0")
    if failures or code != 0:
        raise RuntimeError(f"sessions to list: {failures[:3] or err}")
    past = user.home / "past-0" / ".startnotebook"
    for index in range(1, count - running):
        copy = user.home / f"past-{index}" / ".startnotebook"
        shutil.copytree(past, copy, ignore=shutil.ignore_patterns("lock", "snakemake", "tls"))
        for launch_json in copy.glob("launches/*/launch.json"):
            launch_json.write_text(launch_json.read_text().replace('"past-0"', f'"past-{index}"'))
        subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(copy.parent)], check=True)
    return timed_list(user)


def check_seconds(user: Account, rounds: int, env: dict | None = None) -> float:
    times = []
    for _ in range(rounds):
        start = time.monotonic()
        code, _, err, _ = run_measured(user, str(BIN / "startnotebook"), "--check", "--name", "planned", env=env)
        times.append(time.monotonic() - start)
        if code != 0:
            raise RuntimeError(err)
    return statistics.median(times)


class RoomyCluster(test_cluster.Cluster):
    """The test cluster with nodes advertising 64 CPUs each, so that 100 one-CPU sessions run at
    once (the servers share this machine's real cores)."""

    def write_config(self) -> None:
        super().write_config()
        for conf in (self.conf, self.state / "etc-slurm" / "slurm.conf"):
            conf.write_text(re.sub(r"^(NodeName=c[12] .*)CPUs=\d+", r"\1CPUs=64", conf.read_text(), flags=re.M))


def slurm_profile(user: Account, checkout: Path = REPO) -> None:
    """The SLURM profile shipped in ``checkout``, with a flavour small enough for 20 sessions on
    2 nodes."""
    import yaml

    profile = user.home / ".config" / "snakemake" / "slurm"
    shutil.copytree(checkout / "profiles" / "slurm", profile)
    site = yaml.safe_load((profile / "site.yaml").read_text())
    site["flavours"]["tiny"] = {"cpus_per_task": 1, "mem_mb": 512, "runtime": 60}
    (profile / "site.yaml").write_text(yaml.safe_dump(site))
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(user.home / ".config")], check=True)


# --- the run -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-slurm", action="store_true", help="only the local backend and --check")
    parser.add_argument("--concurrent", type=int, default=100, help="launches at once (0: none)")
    parser.add_argument("--users", type=int, default=20, help="users sharing the launches at once")
    parser.add_argument("--account-prefix", default="ln", help="the test accounts' names start "
                        "with sntest-PREFIX-bench (an existing one is removed first)")
    args = parser.parse_args()
    rows, figures = [], {}
    try:
        test_cluster.set_up_network()
    except test_cluster.NetworkInUse as error:
        sys.exit(f"launch_time: {error}")
    test_cluster.join_hub()
    state = Path(tempfile.mkdtemp(prefix="startnotebook-bench-"))
    state.chmod(0o755)
    cluster = None
    users: list[Account] = []
    try:
        if not args.no_slurm:
            cluster = RoomyCluster(state).start()
        user = Account(f"{args.account_prefix}-bench", slurm_conf=cluster.conf if cluster else None, bin_dir=BIN)
        users.append(user)
        stale = {"SLURM_CONF": str(stale_slurm_conf(user))}
        figures["--check (s)"] = check_seconds(user, args.rounds)
        figures["--check, dead controller configured (s)"] = check_seconds(user, args.rounds, env=stale)
        for index in range(args.rounds):
            rows.append(("local", "bare jupyter server", index, bare_local(user, index)))
            rows.append(("local", "startnotebook", index, launch_local(user, f"local-{index}")))
            rows.append(("local, dead controller", "bare jupyter server", index,
                         bare_local(user, 1000 + index, env=stale)))
            rows.append(("local, dead controller", "startnotebook", index,
                         launch_local(user, f"stale-{index}", env=stale)))
        figures["CPU per local launch (s)"] = statistics.median(LAUNCH_CPU)
        LAUNCH_CPU.clear()
        if cluster is not None:
            slurm_profile(user)
        lister = Account(f"{args.account_prefix}-bench-list", slurm_conf=cluster.conf if cluster else None, bin_dir=BIN)
        users.append(lister)
        if cluster is not None:
            slurm_profile(lister)
        figures["list of 100 (80 ended, 20 running) (s)"], figures["list of 100: squeue calls"] = \
            list_of_a_hundred(lister, slurm=cluster is not None)
        if cluster is not None:
            lister.run("scancel", "-u", lister.name)
        lister.kill_processes()
        if cluster is not None:
            for index in range(args.rounds):
                rows.append(("slurm", "bare sbatch + jupyter server", index, bare_sbatch(user, cluster, index)))
                rows.append(("slurm", "startnotebook --profile slurm", index, launch_slurm(user, index)))
            figures["CPU per SLURM launch (s)"] = statistics.median(LAUNCH_CPU)
            figures["RPCs, job starts at once"] = rpcs_of_a_launch(user, cluster, "rpc-now", 0)
            figures["RPCs, after a 20 s queue wait"] = rpcs_of_a_launch(user, cluster, "rpc-wait", 20)
            if args.concurrent:
                lone = statistics.median(seconds for backend, what, _, seconds in rows
                                         if backend == "slurm" and what.startswith("startnotebook"))
                at_once(figures, "1 user", [user], args.concurrent, lone)
                names = [f"many-{index}" for index in range(args.concurrent)]
                figures["list: sessions"] = len(names)
                figures["list (s)"], figures["list: squeue calls"] = list_of_many(user, names, cluster)
                user.run("scancel", "-u", user.name)
                user.kill_processes()
                share = max(1, args.concurrent // args.users)
                for index in range(args.users):
                    users.append(Account(f"{args.account_prefix}-bench{index}", slurm_conf=cluster.conf, bin_dir=BIN))
                    slurm_profile(users[-1])
                at_once(figures, f"{args.users} users", users[-args.users:], share, lone)
    finally:
        for user in users:
            user.kill_processes()
        if cluster is not None:
            cluster.stop()
        for user in users:
            user.remove()
        shutil.rmtree(state, ignore_errors=True)
        test_cluster.tear_down_network()
    report(pandas.DataFrame(rows, columns=["backend", "what", "round", "seconds"]), figures)


def at_once(figures: dict, who: str, users: list[Account], per_user: int, lone: float) -> None:
    """Launches at once, and what they cost the login node apart from the servers."""
    result = concurrent_launches(users, per_user, "many")
    count = result["count"]
    floor = sum(result["launch_cpu"]) / os.cpu_count()
    key = f"{count} at once, {who}"
    figures[f"{key}: p50 (s)"] = result["p50"]
    figures[f"{key}: p95 (s)"] = result["p95"]
    figures[f"{key}: p95 / lone launch"] = result["p95"] / lone
    figures[f"{key}: launch CPU, all (s)"] = sum(result["launch_cpu"])
    figures[f"{key}: launch CPU, per launch p50 (s)"] = statistics.median(result["launch_cpu"])
    figures[f"{key}: CPU floor = launch CPU / cores (s)"] = floor
    figures[f"{key}: p95 / CPU floor"] = result["p95"] / floor
    figures[f"{key}: servers' CPU, all (s)"] = result["server_cpu"]
    figures[f"{key}: servers' memory, all (MB)"] = result["server_rss_mb"]
    for user in users:
        user.run("scancel", "-u", user.name)
        user.kill_processes()


TARGETS = {"local": 1.2, "local, dead controller": 1.2, "slurm": 0.9}
OTHER_TARGETS = {"--check (s)": 1.0, "--check, dead controller configured (s)": 1.0,
                 "CPU per local launch (s)": 1.0, "CPU per SLURM launch (s)": 1.0,
                 "RPCs, job starts at once": 1, "RPCs, after a 20 s queue wait": 4, "list (s)": 1.0,
                 "list: squeue calls": 1, "list of 100 (80 ended, 20 running) (s)": 1.0,
                 "list of 100: squeue calls": 1}


def report(table: pandas.DataFrame, figures: dict) -> None:
    print(table.pivot_table(index="round", columns=["backend", "what"], values="seconds").round(2).to_string())
    print()
    summary = table.groupby(["backend", "what"])["seconds"].agg(["median", "min", "max"]).round(2)
    print(summary.to_string())
    print()
    for backend, target in TARGETS.items():
        part = summary.loc[backend] if backend in summary.index.get_level_values(0) else None
        if part is None:
            continue
        ours = part.loc[[what for what in part.index if what.startswith("startnotebook")][0], "median"]
        bare = part.loc[[what for what in part.index if what.startswith("bare")][0], "median"]
        ratio = ours / bare
        print(f"{backend}: launch / bare (medians) = {ratio:.2f}  (target <= {target})"
              f"  {'ok' if ratio <= target else 'MISSED'}")
    for name, value in figures.items():
        target = OTHER_TARGETS.get(name)
        verdict = "" if target is None else f"  (target <= {target})  {'ok' if value <= target else 'MISSED'}"
        print(f"{name}: {value:.2f}{verdict}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
