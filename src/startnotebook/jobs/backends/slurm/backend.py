"""The SLURM backend: the job script is submitted detached with ``sbatch``.

Submission is plain ``sbatch`` rather than snakemake-executor-plugin-slurm because the plugin keeps
Snakemake running for the whole job and cancels the job when Snakemake exits; a notebook must
outlive its launch. Settings are named as the plugin names them (``slurm_partition``,
``slurm_account``, ``slurm_extra``), and the cluster is found the standard way: ``sbatch``,
``squeue``, ``scancel`` on PATH, ``SLURM_CONF``.

The controller is asked little: readiness comes from the handover file the job writes into the
session folder; ``squeue`` is asked first after a few seconds and then at most every 30 s (with
jitter, so that many launches do not ask in step), and one ``squeue`` answers for many jobs.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from datetime import datetime

from ....errors import ControllerUnreachable, SubmitError, UnavailableResources
from ....settings.config import Flavour
from ...job import JobSpec, check_container, server_command
from .. import COMPLETED, ENDED, FAILED, GONE, PENDING, RUNNING, UNKNOWN, WALL_TIME, Accounted, Backend, JobStatus

#: What SLURM's job states (squeue's %T) mean: waiting to start, or holding an allocation.
#: Every other state is an end (COMPLETING, COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL,
#: PREEMPTED, BOOT_FAIL, DEADLINE, OUT_OF_MEMORY, ...).
SLURM_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"}
SLURM_RUNNING = {"CONFIGURING", "RUNNING", "SUSPENDED", "RESIZING", "SIGNALING"}
#: Ends that are not failures; any other end is one.
SLURM_ENDINGS = {"COMPLETED": COMPLETED, "TIMEOUT": WALL_TIME}
CONTROLLER_TIMEOUT = 30
#: Pending reasons that no amount of waiting cures: the job asks what its partition cannot give.
HOPELESS_REASONS = {
    "PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
    "InvalidAccount", "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed",
}
#: Messages of a controller that cannot be reached (slurmctld down or restarting).
UNREACHABLE = ("Unable to contact slurm controller", "Socket timed out", "Connection refused",
               "Zero Bytes were transmitted")


def sbatch_command(spec: JobSpec) -> list[str]:
    flavour = spec.flavour
    command = [
        "sbatch", "--parsable",
        # The session's name, so that squeue shows which notebook a job is.
        f"--job-name={spec.name}",
        f"--cpus-per-task={flavour.cpus_per_task}",
        f"--mem={flavour.mem_mb}M",
        f"--time={flavour.runtime}",
        f"--chdir={spec.folder}",
        f"--output={spec.server_log}",
        # Every launch adds to the session's log; none truncates an earlier one's.
        "--open-mode=append",
        # A node failure must not start a second server for the session elsewhere.
        "--no-requeue",
        # The server ends the session cleanly before the wall time (it knows the end); should
        # that fail to happen, this signal tells it the end is near (to the batch shell, which
        # passes it on: job.py).
        f"--signal=B:USR1@{spec.save_before_wall_time}",
    ]
    options = flavour.batch_options
    if options.get("slurm_partition"):
        command.append(f"--partition={options['slurm_partition']}")
    if options.get("slurm_account"):
        command.append(f"--account={options['slurm_account']}")
    if flavour.gpus:
        command.append(f"--gres={gres(flavour)}")
    command += shlex.split(options.get("slurm_extra") or "")
    return command + [str(spec.job_script_file)]


def gres(flavour: Flavour) -> str:
    """The flavour's GPUs as SLURM's generic resource: gpu[:type]:N."""
    return ":".join(["gpu", *([flavour.gpu_type] if flavour.gpu_type else []), str(flavour.gpus)])


def _ask(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=CONTROLLER_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as error:
        raise SubmitError(f"{command[0]} not found: is this a SLURM login node?") from error
    except subprocess.TimeoutExpired as error:
        raise ControllerUnreachable(
            f"the SLURM controller did not answer {command[0]} within {CONTROLLER_TIMEOUT} s"
        ) from error


def _last_line(text: str) -> str:
    """The last message of a SLURM command, without its "sbatch: error: " prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    return re.sub(r"^\w+: error: ", "", lines[-1])


def _unreachable(text: str) -> bool:
    return any(message in text for message in UNREACHABLE)


def _status(label: str, reason: str, nodes: str, time_left: str, start: str = "N/A") -> JobStatus:
    """squeue's line of a job, in every backend's terms."""
    reason = "" if reason == "None" else reason
    left = {"time_left": _time_left(time_left), "seconds_left": _squeue_seconds(time_left)}
    if label in SLURM_PENDING:
        hopeless = label == "PENDING" and reason in HOPELESS_REASONS
        if hopeless:
            return JobStatus(PENDING, label, f"{reason}: it can never start", never_starts=True)
        # squeue's %S of a waiting job is its expected start, as squeue --start says.
        return JobStatus(PENDING, label, reason, **left,
                         expected_start=_slurm_time(start) if label == "PENDING" else None)
    if label in SLURM_RUNNING:
        on = label == "RUNNING"
        return JobStatus(RUNNING, label, f"on {nodes}" if on else reason, node=nodes if on else "", **left)
    return JobStatus(ENDED, label, reason, ending=SLURM_ENDINGS.get(label, FAILED))


def _time_left(text: str) -> str:
    return "" if text in ("INVALID", "UNLIMITED") else text


def _squeue_seconds(text: str) -> int | None:
    """squeue's time left (``%L``: [days-][[hours:]minutes:]seconds) in seconds."""
    if not _time_left(text):
        return None
    days, _, clock = text.rpartition("-")
    try:
        parts = [int(part) for part in clock.split(":")]
        whole_days = int(days) if days else 0
    except ValueError:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return whole_days * 86400 + seconds


class SlurmBackend(Backend):
    name = "slurm"
    bind_ip = "0.0.0.0"
    advertised_host = ""  # the job's node: known only inside the job
    first_check = 5.0
    check_every = 30.0
    accounting_name = "SLURM accounting (sacct)"

    def describe(self, spec: JobSpec) -> list[tuple[str, str]]:
        return [
            ("backend", "slurm (a batch job, submitted detached with sbatch)"),
            ("sbatch", shlex.join(sbatch_command(spec))),
            ("job runs", shlex.join(server_command(spec))),
        ]

    def submit(self, spec: JobSpec) -> dict:
        check_container(spec)
        result = _ask(sbatch_command(spec))
        if result.returncode != 0:
            message = _last_line(result.stderr)
            if _unreachable(result.stderr):
                raise ControllerUnreachable(f"the SLURM controller cannot be reached: {message}")
            raise SubmitError(f"sbatch refused the notebook job: {message}")
        job_id = result.stdout.strip().split(";")[0]
        if not re.fullmatch(r"[0-9]+", job_id):  # not isdigit: it takes "²" too
            raise SubmitError(f"sbatch gave no job id: {_last_line(result.stdout + result.stderr)}")
        return {"backend": self.name, "id": job_id}

    def statuses(self, jobs: list[dict]) -> dict[str, JobStatus]:
        """One squeue for all ``jobs``; a job squeue no longer lists has ended."""
        if not jobs:
            return {}
        ids = sorted({job["id"] for job in jobs}, key=int)
        try:
            result = _ask(["squeue", "--noheader", "--states=all", f"--jobs={','.join(ids)}",
                           "--format=%i|%T|%r|%N|%L|%S"])
        except ControllerUnreachable as error:
            # Not knowing is an answer too: the caller decides what it means (wait, or say so).
            return {job_id: JobStatus(UNKNOWN, "UNKNOWN", str(error)) for job_id in ids}
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            reason = _last_line(result.stderr)
            return {job_id: JobStatus(UNKNOWN, "UNKNOWN", reason) for job_id in ids}
        found = {}
        for line in result.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 6:
                found[parts[0]] = _status(*parts[1:])
        gone = JobStatus(ENDED, "ENDED", "no longer known to SLURM", ending=GONE)
        return {job_id: found.get(job_id, gone)
                for job_id in ids}

    def check_resources(self, flavour: Flavour) -> str | None:
        """A GPU flavour only: one ``sinfo`` for every partition's nodes' GRES (a launch without
        GPUs asks the controller nothing here)."""
        if not flavour.gpus:
            return None
        result = _ask(["sinfo", "--noheader", "--format=%P %G"])
        if result.returncode != 0:
            message = _last_line(result.stderr)
            if _unreachable(result.stderr):
                raise ControllerUnreachable(f"the SLURM controller cannot be reached: {message}")
            raise ControllerUnreachable(f"sinfo failed: {message}")
        return check_gpus(flavour, result.stdout)

    def cancel(self, job: dict) -> None:
        result = _ask(["scancel", "--quiet", job["id"]])
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise ControllerUnreachable(f"scancel of job {job['id']} failed: {_last_line(result.stderr)}")

    # --- accounting (slurmdbd), for ``usage`` ------------------------------------------------------
    def keeps_accounting(self) -> bool:
        """One question to the controller. Without slurmdbd, ``sacct`` would hang: ask first."""
        try:
            result = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                                    timeout=CONTROLLER_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return False
        match = re.search(r"^AccountingStorageType\s*=\s*(\S+)", result.stdout, re.M)
        return bool(match) and match.group(1) == "accounting_storage/slurmdbd"

    def accounted(self, job_ids: list[str]) -> dict[str, Accounted]:
        if not job_ids:
            return {}
        try:
            result = subprocess.run(
                ["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", ",".join(job_ids),
                 "--format=JobIDRaw,Start,End,AllocCPUS,AllocTRES"],
                capture_output=True, text=True, timeout=CONTROLLER_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            raise ControllerUnreachable("SLURM's accounting (sacct) did not answer") from error
        if result.returncode != 0:
            raise ControllerUnreachable(f"sacct failed: {_last_line(result.stderr)}")
        found = {}
        for line in result.stdout.splitlines():
            job_id, start, end, cpus, tres = line.split("|")
            started = _slurm_time(start)
            if job_id in job_ids and started is not None:
                found[job_id] = Accounted(started, _slurm_time(end), int(cpus), _memory_mb(tres),
                                          _gpus(tres))
        return found


# --- GPUs: what the flavour may use, and what sinfo says the nodes have ---------------------------
def partitions_of(flavour: Flavour) -> list[str]:
    """The partitions the flavour's job may go to, as sbatch reads its options (slurm_extra comes
    last: its --partition wins); [] for the cluster's default partition."""
    chosen = flavour.batch_options.get("slurm_partition") or ""
    words = shlex.split(flavour.batch_options.get("slurm_extra") or "")
    for index, word in enumerate(words):
        if word in ("-p", "--partition") and index + 1 < len(words):
            chosen = words[index + 1]
        elif word.startswith("--partition="):
            chosen = word.split("=", 1)[1]
        elif word.startswith("-p") and not word.startswith("--") and len(word) > 2:
            chosen = word[2:]
    return [name for name in chosen.split(",") if name]


def node_gpus(gres: str) -> dict[str | None, int]:
    """GPUs by type (None: untyped) of a node whose GRES sinfo's %G says: "gpu:2",
    "gpu:a100:4(S:0-1),gpu:v100:2", "(null)"."""
    found: dict[str | None, int] = {}
    for entry in re.split(r",(?![^(]*\))", gres):  # no split inside "(S:0,1)"
        parts = re.sub(r"\(.*\)$", "", entry.strip()).split(":")
        if parts[0] != "gpu" or len(parts) not in (2, 3) or not re.fullmatch(r"[0-9]+", parts[-1]):
            continue
        kind = parts[1] if len(parts) == 3 else None
        found[kind] = found.get(kind, 0) + int(parts[-1])
    return found


def gpu_offers(sinfo: str) -> tuple[dict[str, list[dict[str | None, int]]], str | None]:
    """``sinfo --noheader --format='%P %G'``: each partition's kinds of node by their GPUs, and
    the default partition (sinfo marks it with "*")."""
    offers: dict[str, list[dict[str | None, int]]] = {}
    default = None
    for line in sinfo.splitlines():
        partition, _, gres = line.strip().partition(" ")
        if not partition:
            continue
        if partition.endswith("*"):
            partition = default = partition[:-1]
        offers.setdefault(partition, []).append(node_gpus(gres.strip()))
    return offers, default


def _fits(node: dict[str | None, int], flavour: Flavour) -> bool:
    """One node has the flavour's GPUs (a session is one task on one node)."""
    have = node.get(flavour.gpu_type, 0) if flavour.gpu_type else sum(node.values())
    return have >= flavour.gpus


def _gres_text(node: dict[str | None, int]) -> str:
    return ",".join(f"gpu:{kind}:{count}" if kind else f"gpu:{count}" for kind, count in node.items()) \
        or "no GPU"


def _nodes_text(offers: dict[str, list[dict[str | None, int]]], partitions: list[str]) -> str:
    return ", ".join(f"{name} " + " or ".join(dict.fromkeys(_gres_text(node) for node in offers[name]))
                     for name in partitions)


def check_gpus(flavour: Flavour, sinfo: str) -> str:
    """Which partitions the flavour may use have a node with its GPUs (for ``--check``); else
    UnavailableResources naming the flavour and what the cluster's nodes have."""
    offers, default = gpu_offers(sinfo)
    named = partitions_of(flavour)
    usable = named or ([default] if default else [])
    fitting = [name for name in usable if any(_fits(node, flavour) for node in offers.get(name, []))]
    if fitting:
        return f"partition{'s' if len(fitting) > 1 else ''} {_nodes_text(offers, fitting)} per node"
    if named:
        where = f"partition{'s' if len(named) > 1 else ''} {', '.join(named)}"
    else:
        where = f"the default partition {default}" if default else "the default partition"
    raise UnavailableResources(
        f"flavour {flavour.name} asks for {flavour.gpus_text()} (--gres={gres(flavour)}), which no node "
        f"of {where} has; the cluster's nodes have: {_nodes_text(offers, list(offers)) or 'nothing sinfo shows'}")


def _memory_mb(tres: str) -> int | None:
    match = re.search(r"mem=([0-9.]+)([KMGT]?)", tres)
    if not match:
        return None
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[match.group(2)]
    return round(float(match.group(1)) * factor)


def _gpus(tres: str) -> int | None:
    """GPUs in sacct's AllocTRES ("cpu=1,gres/gpu=1,mem=8G,node=1"; a typed count such as
    gres/gpu:a100=1 comes beside the total); None where it names none (a job without GPUs, or
    accounting that does not count them: the records say)."""
    match = re.search(r"(?:^|,)gres/gpu=([0-9]+)", tres)
    if match:
        return int(match.group(1))
    return None


def _slurm_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None  # "Unknown" (still running) or "None"
