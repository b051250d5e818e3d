"""Other users and hostile directories: nothing planted runs, no folder is reached through a
symlink, secrets stay private and go when the session ends, TLS, guessing passwords is slow."""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import BIN, User, job_of, latest_launch, wait_until
from jupyter_session import JupyterSession, certificate_fingerprint, parse_banner, parse_fingerprint


# --- profiles ---------------------------------------------------------------------------------------
def plant_profile(where: Path, marker: Path) -> None:
    """Another user's `slurm/` profile where the victim happens to stand."""
    (where / "slurm").mkdir(parents=True)
    (where / "slurm" / "config.yaml").write_text("executor: local\n")
    evil = where / "evil.sh"
    evil.write_text(f"touch {marker}\n")
    evil.chmod(0o755)
    (where / "slurm" / "site.yaml").write_text(yaml.safe_dump(
        {"backend": "slurm", "slurm": {"slurm_extra": f"--export=ALL,BASH_ENV={evil}"}}))


@pytest.mark.slurm
@pytest.mark.parametrize("how", ["--profile", "SNAKEMAKE_PROFILE"])
def test_a_profile_planted_where_the_user_stands_is_never_used(slurm, tmp_path_factory, how):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    real = user.slurm_profile()
    where, marker = tmp_path_factory.mktemp("shared-dir"), tmp_path_factory.mktemp("m") / "planted-ran"
    plant_profile(where, marker)
    args = ["--profile", "slurm"] if how == "--profile" else []
    if how == "SNAKEMAKE_PROFILE":
        user.env["SNAKEMAKE_PROFILE"] = "slurm"
    try:
        check = user.startnotebook(*args, "--check", "--name", "careful", cwd=where)
        assert check.returncode == 0, check.stderr
        assert f"profile          : {real}" in check.stdout
        assert "BASH_ENV" not in check.stdout
        launched = user.startnotebook(*args, "--name", "careful", "--notebook-timeout", "60", cwd=where)
        assert launched.returncode == 0, launched.stderr
        assert "BASH_ENV" not in slurm.scontrol_job(job_of(user.home / "careful")["id"]).get("Command", "")
        assert not marker.exists()
        info = json.loads(user.startnotebook("info", "careful", "--json", *args, cwd=where).stdout)
        assert info["profile"] == str(real)
    finally:
        subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env)


# --- session folders ------------------------------------------------------------------------------------
def test_a_session_folder_reached_through_a_symlink_is_refused(user, tmp_path):
    target = tmp_path / "not-a-session"
    target.mkdir(mode=0o755)
    (target / "precious.conf").write_text("keep me")
    (user.home / "y").symlink_to(target)
    result = user.startnotebook("--name", "y")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "is a symbolic link; refusing to follow it" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["precious.conf"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert user.server_processes() == []


@pytest.fixture
def shared_root():
    """A scratch-like folder every user may write to."""
    root = Path("/srv/sntest-shared")
    subprocess.run(["rm", "-rf", str(root)])
    root.mkdir(parents=True)
    yield root
    subprocess.run(["rm", "-rf", str(root)])


def site_profile(user: User, **site) -> None:
    profile = user.home / ".config" / "snakemake" / "site"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "config.yaml").write_text("cores: 1\n")
    (profile / "site.yaml").write_text(yaml.safe_dump(site))
    user.owns(user.home / ".config")


def test_a_shared_sessions_root_needs_the_sticky_bit_and_gets_a_folder_per_user(shared_root):
    alice, mallory = User.ordinary("alice"), User.ordinary("mallory")
    try:
        for person in (alice, mallory):
            site_profile(person, sessions_root=str(shared_root))
        shared_root.chmod(0o777)  # writable by all, no sticky bit: anyone could swap a folder
        refused = alice.startnotebook("--profile", "site", "--name", "paper")
        assert refused.returncode != 0 and "has no sticky bit" in refused.stderr
        assert refused.stderr.count("\n") == 1
        shared_root.chmod(0o1777)
        # Mallory prepares alice's per-user folder, as a link to a folder of hers.
        trap = mallory.home / "trap"
        mallory.run("mkdir", str(trap))
        mallory.run("ln", "-s", str(trap), str(shared_root / alice.account.name))
        refused = alice.startnotebook("--profile", "site", "--name", "paper")
        assert refused.returncode != 0 and refused.stderr.count("\n") == 1
        assert "symbolic link" in refused.stderr or "another user" in refused.stderr
        assert list(trap.iterdir()) == []
        subprocess.run(["rm", str(shared_root / alice.account.name)], check=True)
        launched = alice.startnotebook("--profile", "site", "--name", "paper", "--notebook-timeout", "30")
        assert launched.returncode == 0, launched.stderr
        folder = shared_root / alice.account.name / "paper"
        assert folder.stat().st_uid == alice.account.uid
        assert stat.S_IMODE((shared_root / alice.account.name).stat().st_mode) == 0o700
        JupyterSession(*parse_banner(launched.stdout))
    finally:
        alice.account.remove()
        mallory.account.remove()


def test_sessions_root_may_name_the_user_and_environment_variables():
    bob = User.ordinary("bob")
    scratch = Path("/srv/sntest-scratch") / bob.account.name
    try:
        scratch.mkdir(parents=True)
        bob.owns(scratch)
        site_profile(bob, sessions_root="/srv/sntest-scratch/$USER/${PROJECT_AREA}")
        bob.env["PROJECT_AREA"] = "notebooks"
        check = bob.startnotebook("--profile", "site", "--check", "--name", "x")
        assert f"folder           : {scratch}/notebooks/x" in check.stdout, check.stdout + check.stderr
        del bob.env["PROJECT_AREA"]
        unset = bob.startnotebook("--profile", "site", "--check", "--name", "x")
        assert unset.returncode != 0 and "$PROJECT_AREA, which is not set" in unset.stderr
    finally:
        subprocess.run(["rm", "-rf", "/srv/sntest-scratch"])
        bob.account.remove()


@pytest.mark.slurm
def test_a_folder_swapped_after_the_check_never_hosts_the_server(slurm, tmp_path_factory):
    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    user.slurm_profile()
    blocker = subprocess.run(["sbatch", "--parsable", "--nodes=2", "--exclusive", "--output=/dev/null",
                              "--wrap=sleep 300"], env=slurm.env, capture_output=True, text=True, check=True)
    launch = user.popen(str(BIN / "startnotebook"), "--profile", "slurm", "--name", "swapped")
    try:
        folder = user.home / "swapped"
        assert wait_until(lambda: any(folder.glob(".startnotebook/launches/*/job.json")), 60)
        # While the job waits, the folder is put aside and another one takes its place.
        os.rename(folder, user.home / "swapped-original")
        folder.mkdir(mode=0o700)
        (folder / ".jupyter").mkdir()
        (folder / ".jupyter" / "jupyter_server_config.py").write_text("open('/tmp/sntest-swap', 'w')\n")
        subprocess.run(["scancel", blocker.stdout.strip()], env=slurm.env, check=True)
        _, stderr = launch.communicate(timeout=120)
    finally:
        subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env)
    assert launch.returncode != 0
    assert "the session folder changed after the launch checked it" in stderr
    assert not Path("/tmp/sntest-swap").exists()
    assert wait_until(lambda: not slurm.queue(), 15)


def test_a_64_character_name_launches(user):
    result = user.startnotebook("--name", "b" * 64, "--notebook-timeout", "30")
    assert result.returncode == 0, result.stderr
    JupyterSession(*parse_banner(result.stdout))


# --- secrets ------------------------------------------------------------------------------------------
def test_secrets_go_when_the_session_ends_and_nothing_of_ours_lands_outside_it(user):
    result = user.startnotebook("--name", "tidy", "--notebook-timeout", "3", "--verbose")
    assert result.returncode == 0, result.stderr
    _, password = parse_banner(result.stdout)
    record = latest_launch(user.home / "tidy")
    assert wait_until(lambda: (record / "end.json").exists(), 30)
    assert wait_until(lambda: not (record / "password").exists() and not (record / "connection.json").exists(), 10)
    assert sorted(p.name for p in user.home.iterdir()) == ["tidy"]  # no ~/.cache/snakemake, no ~/.npm
    assert not list((user.home / "tidy").glob("**/.npm"))
    for path in (user.home / "tidy").rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path


# --- TLS ----------------------------------------------------------------------------------------------
def test_tls_gives_an_https_url_and_the_certificate_fingerprint(user):
    result = user.startnotebook("--name", "secure", "--tls", "--notebook-timeout", "60")
    assert result.returncode == 0, result.stderr
    url, password = parse_banner(result.stdout)
    fingerprint = parse_fingerprint(result.stdout)
    assert url.startswith("https://") and certificate_fingerprint(url) == fingerprint
    jupyter = JupyterSession(url, password, fingerprint)
    assert jupyter.connect(jupyter.start_kernel()).execute("1 + 1") == "2"
    key = user.home / "secure" / ".startnotebook" / "tls" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    connection = json.loads(user.startnotebook("info", "secure", "--json").stdout)["connection"]
    assert connection["certificate_sha256"] == fingerprint and connection["scheme"] == "https"
    assert user.startnotebook("stop", "secure").returncode == 0  # the tool speaks https too
    again = user.startnotebook("--name", "secure", "--tls", "--notebook-timeout", "60")
    assert parse_fingerprint(again.stdout) == fingerprint  # one certificate per session: trusted once


def test_a_users_own_certificate_is_spoken_to(user, tmp_path):
    from startnotebook.launch.tls import session_certificate

    certificate, key = session_certificate(tmp_path / "mine", "my own")
    config = user.home / "own" / ".jupyter"
    config.mkdir(parents=True)
    (config / "jupyter_server_config.py").write_text(
        f"c.ServerApp.certfile = {certificate!r}\nc.ServerApp.keyfile = {key!r}\n")
    result = user.startnotebook("--name", "own", "--notebook-timeout", "60")
    assert result.returncode == 0, result.stderr
    url, password = parse_banner(result.stdout)
    assert url.startswith("https://")
    assert parse_fingerprint(result.stdout) == certificate_fingerprint(url)
    JupyterSession(url, password)


@pytest.mark.slurm
def test_a_site_certificate_serves_every_session_on_the_cluster(slurm, tmp_path_factory):
    from startnotebook.launch.tls import session_certificate

    user = User(tmp_path_factory.mktemp("home"), slurm_conf=slurm.conf)
    certificate, key = session_certificate(tmp_path_factory.mktemp("site-tls"), "site")
    user.slurm_profile(tls={"enabled": True, "certificate": certificate, "key": key})
    try:
        result = user.startnotebook("--profile", "slurm", "--name", "sited", "--notebook-timeout", "60")
        assert result.returncode == 0, result.stderr
        url, password = parse_banner(result.stdout)
        assert url.startswith("https://10.250.77.")
        assert certificate_fingerprint(url) == parse_fingerprint(result.stdout)
        JupyterSession(url, password)
    finally:
        subprocess.run(["scancel", "--quiet", "-u", "root"], env=slurm.env)


# --- guessing passwords -----------------------------------------------------------------------------------
def login_attempt(url: str, password: str, source: str = "127.0.0.1") -> tuple[int, float]:
    """One login from ``source``, as a browser sends it; (HTTP status, seconds it took)."""
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120, source_address=(source, 0))
    connection.request("GET", "/login")
    response = connection.getresponse()
    response.read()
    xsrf = response.getheader("Set-Cookie").split("_xsrf=")[1].split(";")[0]
    started = time.monotonic()
    connection.request("POST", "/login", body=f"password={password}&_xsrf={xsrf}",
                       headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf}"})
    response = connection.getresponse()
    response.read()
    return response.status, time.monotonic() - started


def test_guessing_passwords_is_slowed_down_for_the_guesser_alone(user):
    result = user.startnotebook("--name", "guarded", "--notebook-timeout", "120")
    url, password = parse_banner(result.stdout)
    jupyter = JupyterSession(url, password)
    kernel = jupyter.connect(jupyter.start_kernel())
    # Twenty guesses at once from four clients (twenty argon2 checks): kernels' traffic goes on.
    guessers = [threading.Thread(target=lambda source=source: [login_attempt(url, "guess", source)
                                                                for _ in range(5)])
                for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")]
    for guesser in guessers:
        guesser.start()
    latencies = []
    while any(guesser.is_alive() for guesser in guessers):
        started = time.monotonic()
        assert kernel.execute("1 + 1") == "2"
        latencies.append(time.monotonic() - started)
    assert latencies and max(latencies) < 1.0, latencies
    attempts = [login_attempt(url, "guess") for _ in range(7)]
    assert all(status == 401 for status, _ in attempts)
    assert all(seconds < 1 for _, seconds in attempts[:5]), attempts  # a typo or two costs nothing
    assert attempts[6][1] >= 1.8, attempts  # then each guess waits longer (1 s, 2 s, ...)
    # While a guess waits (4 s), the server serves everyone else at once: another client's login,
    # and a kernel's traffic.
    waiting = threading.Thread(target=login_attempt, args=(url, "guess"))
    waiting.start()
    time.sleep(0.5)
    status, seconds = login_attempt(url, password, source="127.0.0.2")
    assert status == 302 and seconds < 1, (status, seconds)
    started = time.monotonic()
    assert kernel.execute("6 * 7") == "42" and time.monotonic() - started < 1
    waiting.join()
    status, _ = login_attempt(url, password)  # the right password still works, after its wait
    assert status == 302
