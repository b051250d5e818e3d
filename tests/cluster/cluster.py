"""A real SLURM cluster for the tests: Debian's slurmctld, slurmd and munge, on this machine.

Network: a "hub" namespace holds a bridge with the controller's address; each compute node is a
network namespace of its own, joined to the bridge by a veth pair made directly between the
namespaces, so the root namespace gets no address and no route to them. The test process itself
joins the hub (``join_hub``): every connection the tests make goes to loopback or to these
namespaces. As a second guard the root namespace gets a blackhole route for the test subnet, so
nothing sent there by mistake can leave the machine.

Nodes: ``slurmd -N cN`` in its namespace, with a hostname of its own (``unshare --uts``) and a
private /etc/hosts naming the nodes (``unshare --mount``): a job on c1 is on host c1 at its address.

Accounting: ``slurmdbd`` with a MariaDB server of its own (data folder, socket and port in the
cluster's state folder), both in the hub, so that ``sacct`` answers as on a real cluster.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBNET = "10.250.77"
HUB = "sn-hub"
#: A name for the namespace the tests started in: the one way out, to the package registries.
OUTSIDE = "sn-outside"
BRIDGE = "snbr0"
CONTROLLER_ADDR = f"{SUBNET}.1"
NODES = {"c1": f"{SUBNET}.11", "c2": f"{SUBNET}.12"}
# Named in slurm.conf but never started: a job sent there stays pending.
ABSENT_NODES = {"c9": f"{SUBNET}.19"}
CLONE_NEWNET = 0x40000000
#: GPUs each node advertises through GRES (slurm.conf.template, gres.conf).
GPUS_PER_NODE = 2
#: Held by the process that set the network up, for its whole life: the namespaces have fixed
#: names, so a second test run or benchmark would tear down the first one's cluster.
NETWORK_LOCK = Path("/run/lock/startnotebook-test-network")
#: The proxy through which batch jobs reach the package registries (see egress_proxy.py).
PROXY_PORT = 3128
PROXY_URL = f"http://{SUBNET}.1:{PROXY_PORT}"
REGISTRY_HOSTS = ("pypi.org", "files.pythonhosted.org", "security.debian.org")
CLUSTER_NAME = "startnotebook-test"
DB_PORT = 13306
DBD_PORT = 16819


def run(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, capture_output=True, text=True, **kwargs)


def netns_path(name: str) -> str:
    return f"/run/netns/{name}"


def namespace_id(path: str | Path) -> tuple[int, int]:
    """What identifies a namespace (``/run/netns/NAME``, ``/proc/PID/ns/net``): its device and inode."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def in_netns(name: str, *command: str) -> list[str]:
    # nsenter, not `ip netns exec`: the latter remounts /sys and slurmd then fails on cgroups.
    return ["nsenter", f"--net={netns_path(name)}", *command]


# --- network -------------------------------------------------------------------------------
class NetworkInUse(RuntimeError):
    pass


_network_claim: int | None = None


def claim_network() -> None:
    """Make this process the one test run or benchmark that owns the test network."""
    global _network_claim
    if _network_claim is not None:
        return
    fd = os.open(NETWORK_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # STARTNOTEBOOK_TEST_WAIT=1: queue behind the run that holds it (developers sharing a
        # machine) instead of stopping at once.
        wait = os.environ.get("STARTNOTEBOOK_TEST_WAIT") == "1"
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        holder = os.pread(fd, 20, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise NetworkInUse(f"another test run or benchmark (pid {holder}) uses the test cluster's "
                           "network; run one at a time") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _network_claim = fd


def tear_down_network() -> None:
    if _network_claim is None:
        return  # not ours: another run's cluster may be using it
    for name in [HUB, OUTSIDE, *(f"sn-{node}" for node in NODES)]:
        run("ip", "netns", "delete", name, check=False)
    run("ip", "route", "delete", "blackhole", f"{SUBNET}.0/24", check=False)


def set_up_network() -> None:
    claim_network()
    tear_down_network()  # what a killed run left behind
    run("ip", "route", "add", "blackhole", f"{SUBNET}.0/24")
    run("ip", "netns", "add", HUB)
    hub = ["ip", "-n", HUB]
    run(*hub, "link", "set", "lo", "up")
    run(*hub, "link", "add", BRIDGE, "type", "bridge")
    run(*hub, "addr", "add", f"{CONTROLLER_ADDR}/24", "dev", BRIDGE)
    run(*hub, "link", "set", BRIDGE, "up")
    for node, address in NODES.items():
        ns = f"sn-{node}"
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", f"{node}-hub", "netns", HUB, "type", "veth",
            "peer", "name", "eth0", "netns", ns)
        run(*hub, "link", "set", f"{node}-hub", "master", BRIDGE)
        run(*hub, "link", "set", f"{node}-hub", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        # No default route: getfqdn() would otherwise wait 10 s on DNS.


def join_hub() -> None:
    """Move this process (and so every process it starts from now on) into the hub namespace."""
    run("ip", "netns", "attach", OUTSIDE, str(os.getpid()))
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns_path(HUB), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the hub namespace failed")
    finally:
        os.close(fd)
    if os.stat("/proc/self/ns/net").st_ino != os.stat(netns_path(HUB)).st_ino:
        raise RuntimeError("not in the hub namespace: refusing to talk to the test subnet")


def outside(*command: str) -> list[str]:
    """``command`` run in the namespace the tests started in (for the package registries)."""
    return in_netns(OUTSIDE, *command)


# --- daemons -------------------------------------------------------------------------------
class Cluster:
    def __init__(self, state: Path):
        self.state = state
        self.conf = state / "slurm.conf"
        self.hosts = state / "hosts"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.daemons: list[subprocess.Popen] = []
        self.nodes: dict[str, subprocess.Popen] = {}
        #: The network namespaces this cluster's nodes run in: whatever runs there is the cluster's.
        self.node_namespaces: set[tuple[int, int]] = set()

    def write_config(self) -> None:
        for folder in ("ctld", "spool", "munge"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
        text = (HERE / "slurm.conf.template").read_text()
        replacements = {
            "@STATE@": str(self.state),
            "@CONTROLLER_HOST@": socket.gethostname(),
            "@CONTROLLER_ADDR@": CONTROLLER_ADDR,
            "@DBD_PORT@": str(DBD_PORT),
            **{f"@NODE_{node}@": address for node, address in {**NODES, **ABSENT_NODES}.items()},
        }
        for key, value in replacements.items():
            text = text.replace(key, value)
        self.conf.write_text(text)
        gres = self.write_gres()
        etc = self.state / "etc-slurm"
        etc.mkdir(exist_ok=True)
        (etc / "slurm.conf").write_text(text)
        (etc / "gres.conf").write_text(gres)
        (etc / "plugstack.conf").write_text("")
        hosts = ["127.0.0.1 localhost", f"{CONTROLLER_ADDR} {socket.gethostname()}"]
        hosts += [f"{address} {node}" for node, address in NODES.items()]
        self.hosts.write_text("\n".join(hosts) + "\n")

    def write_gres(self) -> str:
        """gres.conf beside slurm.conf (where slurmd looks for it): each node's two GPUs are
        character devices made here with NVIDIA's major number, never opened; enough for SLURM to
        allot them by index and set CUDA_VISIBLE_DEVICES."""
        devices = self.state / "dev"
        devices.mkdir(exist_ok=True)
        for index in range(GPUS_PER_NODE):
            device = devices / f"nvidia{index}"
            if not device.exists():
                os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(195, index))
        text = (f"NodeName={','.join(NODES)} Name=gpu "
                f"File={devices}/nvidia[0-{GPUS_PER_NODE - 1}]\n")
        (self.state / "gres.conf").write_text(text)
        return text

    def start_munge(self) -> None:
        munge = self.state / "munge"
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        munge.chmod(0o711)  # clients need to reach the socket
        self._start(["runuser", "-u", "munge", "--", "munged", "--foreground", "--force",
                     f"--socket={munge}/munge.socket", f"--key-file={key}",
                     f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log",
                     f"--seed-file={munge}/munged.seed"])
        self._wait_for(lambda: (munge / "munge.socket").exists(), "munged")

    def start_accounting(self) -> None:
        """MariaDB (a data folder of its own), then slurmdbd, then the cluster registered."""
        database = self.state / "mariadb"
        run("mariadb-install-db", "--no-defaults", f"--datadir={database}", "--user=root",
            "--auth-root-authentication-method=normal", "--skip-test-db")
        socket_path = self.state / "mariadb.sock"
        self._start(in_netns(HUB, "mariadbd", "--no-defaults", f"--datadir={database}", "--user=root",
                             f"--socket={socket_path}", f"--port={DB_PORT}", "--bind-address=127.0.0.1",
                             "--skip-name-resolve", f"--pid-file={self.state}/mariadb.pid",
                             "--innodb-buffer-pool-size=32M", "--skip-log-bin"))
        self._wait_for(socket_path.exists, "mariadbd")
        # slurmdbd reads slurmdbd.conf next to $SLURM_CONF's slurm.conf.
        dbd = self.state / "slurmdbd.conf"
        dbd.write_text(
            f"AuthType=auth/munge\nAuthInfo=socket={self.state}/munge/munge.socket\n"
            f"DbdAddr=127.0.0.1\nDbdHost=localhost\nDbdPort={DBD_PORT}\nSlurmUser=root\n"
            f"PidFile={self.state}/slurmdbd.pid\nLogFile={self.state}/slurmdbd.log\n"
            f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort={DB_PORT}\n"
            "StorageUser=root\nStorageLoc=slurm_acct_db\n"
        )
        dbd.chmod(0o600)
        self._start(in_netns(HUB, "slurmdbd", "-D"))
        self._wait_for(lambda: run("sacctmgr", "-n", "show", "cluster", check=False, env=self.env,
                                   timeout=10).returncode == 0, "slurmdbd")
        run("sacctmgr", "-i", "add", "cluster", CLUSTER_NAME, check=False, env=self.env, timeout=30)

    def start_controller(self, clean: bool = True) -> None:
        # -c: start from clean state, so no drain or job from an earlier run is remembered; a
        # restart within a run recovers its jobs from the saved state instead.
        self.controller = self._start(in_netns(HUB, "slurmctld", "-D", *(["-c"] if clean else []),
                                               "-f", str(self.conf)), keep=True)
        self._wait_for(lambda: run("scontrol", "ping", check=False, env=self.env).returncode == 0,
                       "slurmctld")

    def stop_controller(self) -> None:
        """slurmctld goes away (as in a crash or a restart); jobs keep running on the nodes."""
        process = self.controller
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        self.daemons.remove(process)

    def kill_node(self, node: str) -> None:
        """slurmd of ``node`` dies (kill -9), as a node crash looks to SLURM; its jobs' processes
        live on, unknown to SLURM."""
        process = self.nodes.pop(node)
        # The process itself (nsenter, unshare and sh all exec'd into slurmd), not its group.
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.daemons.remove(process)

    def start_node(self, node: str) -> None:
        # /etc/slurm too: Snakemake's SLURM jobstep drops SLURM_CONF before its srun, which then
        # reads the standard path.
        script = (f"hostname {node} && mount --bind {self.hosts} /etc/hosts && "
                  f"mount --bind {self.state / 'etc-slurm'} /etc/slurm && "
                  f"exec slurmd -D -N {node} -f {self.conf}")
        self.node_namespaces.add(namespace_id(netns_path(f"sn-{node}")))
        self.nodes[node] = self._start(in_netns(f"sn-{node}", "unshare", "--uts", "--mount",
                                                "--propagation", "private", "sh", "-c", script), keep=True)

    def wait_until_idle(self) -> None:
        def idle() -> bool:
            result = run("sinfo", "-h", "-N", "-p", "debug", "-o", "%N %T", check=False, env=self.env)
            states = dict(line.split() for line in result.stdout.splitlines())
            return len(states) == len(NODES) and all(s == "idle" for s in states.values())

        self._wait_for(idle, "idle compute nodes")

    def start_egress_proxy(self) -> None:
        from startnotebook.jobs.image import debian_mirror  # the hosts a build may reach

        mirror = debian_mirror().split("/")[2]
        log = self._start(outside(sys.executable, str(HERE / "egress_proxy.py"), netns_path(HUB),
                                  CONTROLLER_ADDR, str(PROXY_PORT), mirror, *REGISTRY_HOSTS))
        self._wait_for(lambda: "listening" in log.read_text(), "egress proxy")

    def start(self) -> "Cluster":
        self.write_config()
        self.start_egress_proxy()
        self.start_munge()
        self.start_accounting()
        self.start_controller()
        for node in NODES:
            self.start_node(node)
        self.wait_until_idle()
        return self

    def stop(self) -> None:
        try:
            run("scancel", "--full", "--quiet", "-u", "root", check=False, env=self.env, timeout=10)
        except subprocess.TimeoutExpired:
            pass  # a controller that no longer answers has no jobs to cancel
        for daemon in reversed(self.daemons):
            os.killpg(daemon.pid, signal.SIGTERM)
        for daemon in reversed(self.daemons):
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        # Job steps (slurmstepd) and jobs outlive a stopped slurmd; they are the cluster's too. Only
        # they: another cluster's slurmstepd on this machine is none of ours.
        deadline = time.monotonic() + 10
        while (leftovers := self.own_processes()) and time.monotonic() < deadline:
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def own_processes(self) -> list[int]:
        """This cluster's processes: whatever runs in its nodes' network namespaces (slurmd, the
        job steps' slurmstepd, the jobs), and whatever names its state folder in its command line
        (its daemons). A process of another cluster, whatever its name, is not among them."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                on_a_node = namespace_id(entry / "ns" / "net") in self.node_namespaces
                arguments = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue  # ended meanwhile
            if on_a_node or any(self._names_state(argument) for argument in arguments):
                found.append(int(entry.name))
        return found

    def _names_state(self, argument: str) -> bool:
        # The folder itself or a path in it; not another folder whose name begins like it.
        state = str(self.state)
        return argument.endswith(state) or f"{state}/" in argument

    def _start(self, command: list[str], keep: bool = False):
        """Start a daemon in a session of its own; return the file its output goes to (or, with
        ``keep``, the process)."""
        path = self.state / f"{Path(command[0]).name}-{len(self.daemons)}-{time.time():.0f}.out"
        with open(path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        self.daemons.append(process)
        return process if keep else path

    def _wait_for(self, ready, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for daemon in self.daemons:
                if daemon.poll() is not None:
                    raise RuntimeError(f"{daemon.args} exited with {daemon.returncode} "
                                       f"while waiting for {what}; see {self.state}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout} s; see {self.state}")
            time.sleep(0.2)

    # --- what tests ask ------------------------------------------------------------------
    def scontrol_job(self, job_id: str) -> dict[str, str]:
        out = run("scontrol", "show", "job", "-o", job_id, env=self.env).stdout
        return dict(field.split("=", 1) for field in out.split() if "=" in field)

    def queue(self, user: str | None = None) -> list[str]:
        """Ids of the jobs pending or running (``user``'s only, if named: other tests' sessions may
        run alongside)."""
        mine = ["-u", user] if user else []
        out = run("squeue", "-h", "-o", "%i", "-t", "PENDING,RUNNING,COMPLETING", *mine, env=self.env).stdout
        return out.split()

    def _node(self, node: str) -> dict[str, str]:
        out = run("scontrol", "show", "node", "-o", node, env=self.env).stdout
        return dict(field.split("=", 1) for field in out.split() if "=" in field)

    def cpus(self, node: str) -> int:
        return int(self._node(node)["CPUTot"])

    def idle_cpus(self, node: str) -> int:
        fields = self._node(node)
        return int(fields["CPUTot"]) - int(fields["CPUAlloc"])
