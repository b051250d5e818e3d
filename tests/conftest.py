"""Fixtures: a fresh home per test, the installed `startnotebook` command, and no stray servers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from accounts import Account

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def processes_mentioning(text: str) -> list[int]:
    """Pids of processes whose command line or environment mentions ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def latest_launch(folder: Path) -> Path:
    """The record folder of the session's latest launch."""
    return sorted((folder / ".startnotebook" / "launches").iterdir())[-1]


def job_of(folder: Path) -> dict:
    """The job of the session's latest launch (SLURM job id, or the local process)."""
    return json.loads((latest_launch(folder) / "job.json").read_text())


def wait_until(predicate, timeout: float, interval: float = 0.5):
    """Poll ``predicate`` until it is truthy; return its value or None at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class User:
    """A researcher typing commands: root with an empty home of its own, or, given an
    ``account``, an ordinary Unix user (tests/accounts.py) with their real home."""

    def __init__(self, home: Path, slurm_conf: Path | None = None, account: Account | None = None):
        self.home, self.account = home, account
        if account is None:
            self.env = {**os.environ, "HOME": str(home), "USER": os.environ.get("USER", "root")}
        else:
            self.env = dict(account.env)
        self.env.pop("SNAKEMAKE_PROFILE", None)
        if slurm_conf is not None:
            self.env["SLURM_CONF"] = str(slurm_conf)

    @classmethod
    def ordinary(cls, name: str, slurm_conf: Path | None = None) -> "User":
        account = Account(name, bin_dir=BIN)
        return cls(account.home, slurm_conf, account)

    def command(self, *args: str) -> list[str]:
        return self.account.as_user(*args) if self.account else list(args)

    def run(self, *args: str, timeout: float = 180, cwd: Path | None = None,
            **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd or self.home, **kwargs)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=self.env, cwd=self.home, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)

    def startnotebook(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "startnotebook"), *args, **kwargs)

    def snakemake(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "snakemake"), *args, **kwargs)

    def owns(self, path: Path) -> Path:
        """Files a test made in the user's home become the user's."""
        if self.account is not None:
            subprocess.run(["chown", "-R", f"{self.account.uid}:{self.account.gid}", str(path)], check=True)
        return path

    def slurm_profile(self, **site) -> Path:
        """A copy of profiles/slurm with ``site`` merged into its site.yaml."""
        import yaml

        profile = self.home / ".config" / "snakemake" / "slurm"
        if not profile.exists():
            shutil.copytree(REPO / "profiles" / "slurm", profile)
        settings = yaml.safe_load((profile / "site.yaml").read_text())
        for key, value in site.items():
            if isinstance(value, dict):
                settings.setdefault(key, {}).update(value)
            else:
                settings[key] = value
        (profile / "site.yaml").write_text(yaml.safe_dump(settings))
        self.owns(self.home / ".config")
        return profile

    def server_processes(self) -> list[int]:
        return processes_mentioning(str(self.home))


@contextlib.contextmanager
def cluster_user(slurm, name: str, **site):
    """An ordinary user with the SLURM profile (``site`` merged into it) on the test cluster;
    their jobs are cancelled and their account removed afterwards."""
    user = User.ordinary(name, slurm_conf=slurm.conf)
    user.slurm_profile(**site)
    try:
        yield user
    finally:
        subprocess.run(["scancel", "--quiet", "-u", user.account.name], env=slurm.env)
        # A cancelled session ends cleanly (its server saves first): the next test finds the
        # cluster's cores free only once its job is gone.
        wait_until(lambda: not subprocess.run(["squeue", "-h", "-u", user.account.name, "-o", "%i"], env=slurm.env,
                                              capture_output=True, text=True).stdout.strip(), 60)
        user.account.remove()


def kill_leftovers(user: User) -> None:
    """Whatever a test left running in its home is ended, so tests cannot disturb each other."""
    for pid in user.server_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def user(tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"))
    yield user
    kill_leftovers(user)


def validate(document, name: str) -> None:
    """``document`` against schemas/``name`` (whose $refs name other files of schemas/)."""
    import jsonschema
    from referencing import Registry, Resource

    def schema(file: str) -> dict:
        return json.loads((REPO / "schemas" / file).read_text())

    registry = Registry().with_resources(
        (path.name, Resource.from_contents(schema(path.name))) for path in (REPO / "schemas").glob("*.json"))
    jsonschema.Draft202012Validator(schema(name), registry=registry,
                                    format_checker=jsonschema.FormatChecker()).validate(document)


# --- the SLURM test cluster ------------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).parent / "cluster"))
import cluster as slurm_test_cluster  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tests marked at_the_end run last (they check what ran alongside the whole suite)."""
    items.sort(key=lambda item: item.get_closest_marker("at_the_end") is not None)


def pytest_configure(config):
    # Every test runs inside the hub namespace: whatever it reaches is loopback or a test node.
    try:
        slurm_test_cluster.set_up_network()
    except slurm_test_cluster.NetworkInUse as error:
        pytest.exit(str(error), returncode=pytest.ExitCode.USAGE_ERROR)
    slurm_test_cluster.join_hub()


def pytest_unconfigure(config):
    slurm_test_cluster.tear_down_network()


@pytest.fixture(scope="session")
def slurm():
    # Not under pytest's 0700 temp folder: munged runs as user munge and checks every parent.
    state = Path(tempfile.mkdtemp(prefix="startnotebook-slurm-"))
    state.chmod(0o755)
    cluster = slurm_test_cluster.Cluster(state)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(state, ignore_errors=True)


# --- the notebook image (envs/notebook), built once for every test that runs in it ----------------
# Outside the clone, so that CI runs on this machine reuse the image (a build takes ~1 min).
IMAGE_DIR = Path("/var/cache/startnotebook-tests/images")
PROJECT = Path("/srv/startnotebook-test-project")


def build_profile(tmp: Path, **container) -> Path:
    """A profile whose site builds images into IMAGE_DIR (as a site's profile would)."""
    import yaml

    profile = tmp / "build-profile"
    profile.mkdir(exist_ok=True)
    (profile / "config.yaml").write_text("cores: 1\n")
    (profile / "site.yaml").write_text(yaml.safe_dump({"container": {
        "runtime": "charliecloud", "image_dir": str(IMAGE_DIR), "binds": ["/srv"], **container}}))
    return profile


def snakemake_build(tmp: Path, image: Path, *options: str) -> list[str]:
    """`snakemake --profile P IMAGE`: the workflow's image rule, by itself."""
    return [shutil.which("snakemake", path=str(Path(sys.executable).parent)), str(image),
            "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp),
            "--profile", str(build_profile(tmp)), *options]


@pytest.fixture(scope="session")
def notebook_image(tmp_path_factory):
    """The image of envs/notebook, built by the workflow's image rule (once per recipe)."""
    tmp = tmp_path_factory.mktemp("image")
    from startnotebook.jobs.image import image_path

    image = image_path(IMAGE_DIR, REPO / "envs" / "notebook")
    # The tests live in the test cluster's hub namespace, which has no way out; the build needs the
    # Debian mirror and PyPI, so it runs in the namespace the tests started in.
    result = subprocess.run(slurm_test_cluster.outside(*snakemake_build(tmp, image)),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    PROJECT.mkdir(parents=True, exist_ok=True)
    (PROJECT / "shared.csv").write_text("site,value\nA,1\n")
    return image


def container_profile(user: User, **site: dict) -> Path:
    """A profile running sessions on this machine in Charliecloud; ``site`` overrides settings."""
    import yaml

    profile = user.home / ".config" / "snakemake" / "container"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "config.yaml").write_text("configfile: site.yaml\n")
    container = {"runtime": "charliecloud", "image_dir": str(IMAGE_DIR), "binds": ["/srv"],
                 **site.get("container", {})}
    others = {key: value for key, value in site.items() if key != "container"}
    (profile / "site.yaml").write_text(yaml.safe_dump({"backend": "local", **others, "container": container}))
    return profile
