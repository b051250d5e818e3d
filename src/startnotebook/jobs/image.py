"""The notebook image: built from the recipe in envs/notebook, named by the recipe's digest.

A directory image (what Charliecloud runs without FUSE): Debian's minbase from the build host's
own Debian mirror (mmdebstrap), then the recipe's Python packages from PyPI into the image's
system Python. The name carries a digest of the recipe, so a changed recipe is a new image (the
workflow builds it) and an unchanged one is found as built.

Building needs no root: as an ordinary user mmdebstrap works in a user namespace (Debian's
``uidmap`` and a subordinate uid/gid range in /etc/subuid and /etc/subgid, which Debian's
useradd gives new users), and the image's files end up owned by the user who built it, so that
``ch-run`` runs it as that user. Root builds the same way (mmdebstrap's unshare mode as root
keeps the image's own owners). Either way the image carries no device nodes and no setuid or
setgid bits: a runtime binds /dev, and nothing in a container gains privileges.

The workflow first stages the recipe into ``<image_dir>/recipes/<digest>`` (with the build
settings, such as ``container.build_proxy`` for build hosts without a way out, in build.json):
the build, which may run as a batch job on a compute node, then needs nothing but that folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from .. import resources
from ..errors import ConfigError, ContainerError
from ..settings.config import ContainerSite
from .job import Container
from .staging import HOST_CA_BUNDLE, one_build_of, stage

RECIPE_FILES = ("debian-packages.txt", "requirements.txt", "mount-points.txt")
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def recipe_digest(recipe: Path) -> str:
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (recipe / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_path(image_dir: Path, recipe: Path) -> Path:
    return image_dir / f"notebook-{recipe_digest(recipe)}"


def container_for(site: ContainerSite, recipe: Path | None, name: str) -> tuple[Container, Path | None]:
    """How a session's server runs, and the recipe of an image the workflow must build (or None).

    ``recipe`` is the session's own recipe folder, if it names one.
    """
    if site.runtime == "none":
        if recipe is not None:
            raise ConfigError(f"session {name} names its own image, but the site runs no container "
                              "(site setting container.runtime is none)")
        return Container(), None
    if recipe is None and site.image:
        return Container(site.runtime, site.image, site.python, site.binds), None
    recipe = recipe or resources.notebook_recipe()
    for file in RECIPE_FILES:
        if not (recipe / file).is_file():
            raise ConfigError(f"image recipe {recipe} has no {file} (see envs/notebook)")
    image = image_path(site.image_dir, recipe)
    return Container(site.runtime, str(image), site.python, site.binds), recipe


def stage_recipe(recipe: Path, staged: Path, proxy: str | None, log: Path) -> None:
    """Copy ``recipe`` with its build settings where the build (maybe a batch job) finds them."""
    stage({name: recipe / name for name in RECIPE_FILES}, {"proxy": proxy}, staged)
    log.write_text(f"staged {recipe} as {staged} (proxy: {proxy or 'none'})\n")


def image_state(image_dir: Path, recipe: Path) -> str:
    """built, to build (none yet), or stale (only images of an older recipe exist)."""
    if image_path(image_dir, recipe).is_dir():
        return "built"
    if image_dir.is_dir() and any(image_dir.glob("notebook-????????????")):
        return "stale"
    return "to build"


def recipe_entries(path: Path) -> list[str]:
    """The entries of a recipe's list file (one per line; ``#`` starts a comment)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def debian_mirror() -> str:
    """The Debian mirror this host's apt uses (the build must not need any other source)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in candidates:
        if not source.is_file():
            continue
        text = source.read_text()
        match = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", text, re.M
        )
        if match:
            return match.group(1)
    return DEFAULT_MIRROR


def _scratch_dir() -> str:
    """Where mmdebstrap assembles the tree before it streams it out as a tar: a local disk.

    In a user namespace the tree belongs to subordinate ids, which the namespace's root can only
    create in a folder open to everyone (TMPDIR of a batch job often is not), and which a shared
    file system (NFS, Lustre) refuses: so /var/tmp, not next to the image.
    """
    for candidate in (os.environ.get("TMPDIR"), "/var/tmp", "/tmp"):
        if not candidate or not Path(candidate).is_dir():
            continue
        folder = Path(candidate).resolve()
        if os.geteuid() == 0 or (folder.stat().st_mode & 0o003 == 0o003 and all(
                parent.stat().st_mode & 0o001 for parent in folder.parents)):
            return str(folder)
    raise ContainerError("building the notebook image needs a temporary folder open to everyone "
                         "(/var/tmp or /tmp, mode 1777)")


def _check_user_namespace() -> None:
    """As an ordinary user: what mmdebstrap's unshare mode needs, said plainly (its log says less)."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    if shutil.which("newuidmap") is None:
        raise ContainerError("building the notebook image as an ordinary user needs newuidmap "
                             "(Debian package uidmap)")
    for table in (Path("/etc/subuid"), Path("/etc/subgid")):
        lines = table.read_text().splitlines() if table.is_file() else []
        if not any(line.split(":", 1)[0] == user for line in lines):
            raise ContainerError(f"building the notebook image as {user} needs a subordinate id range "
                                 f"for {user} in {table} (usermod --add-subuids/--add-subgids)")


def _failed(command: list[str], log) -> ContainerError:
    return ContainerError(f"image build failed at: {' '.join(command[:3])} ... (see {log.name})")


def _hook(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


# Run by mmdebstrap inside its namespace once the Debian packages are in ("$1" is the tree).
# pip may install into the system Python of the image, and so may `pip install --user`; TLS to
# the registry may be intercepted by a proxy the host trusts: trust what it trusts. The proxy
# comes from the environment (unset: empty, which pip ignores), not from the command line.
PIP_HOOK = (
    'chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root PIP_CERT=/tmp/host-ca.crt '
    '"http_proxy=${http_proxy:-}" "https_proxy=${https_proxy:-}" "no_proxy=${no_proxy:-}" '
    "python3 -m pip install --no-cache-dir --root-user-action=ignore --no-warn-script-location "
    "--quiet -r /tmp/requirements.txt >&2"
)
# Nothing of the build stays in the image: not the proxy (apt's 99mmdebstrap), not the host's
# CA bundle; and no setuid or setgid file, which on the host would run as its owner.
TIDY_HOOK = (
    'rm -f "$1"/etc/apt/apt.conf.d/99mmdebstrap "$1"/tmp/requirements.txt "$1"/tmp/host-ca.crt && '
    'find "$1" -xdev -type f -perm /6000 -exec chmod ug-s {} +'
)


def build(recipe: Path, dest: Path, log_path: Path) -> None:
    """Build the image of the staged ``recipe`` at ``dest``, atomically: a failed build leaves no image.

    As root or as an ordinary user (mmdebstrap in a user namespace); the image's files belong to
    whoever builds it. Launches run without Snakemake's lock: two that need the same image build
    it once (a lock per image); one already there is never replaced (a session may run in it).
    """
    with one_build_of(dest):
        if dest.is_dir():
            log_path.write_text(f"{dest} was built meanwhile\n")
            return
        _build(recipe, dest, log_path)


def _build(recipe: Path, dest: Path, log_path: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ContainerError("building the notebook image needs mmdebstrap (Debian package "
                             "mmdebstrap; as an ordinary user also uidmap)")
    if os.geteuid() != 0:
        _check_user_namespace()
    proxy = json.loads((recipe / "build.json").read_text()).get("proxy")
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    for key in ("http_proxy", "https_proxy", "no_proxy"):
        value = os.environ.get(key) or os.environ.get(key.upper())
        if value:
            env[key] = value
    if proxy:
        env.update(http_proxy=proxy, https_proxy=proxy)
    env["TMPDIR"] = _scratch_dir()
    aptopts = ([f'--aptopt=Acquire::http::Proxy "{proxy}"', f'--aptopt=Acquire::https::Proxy "{proxy}"']
               if proxy else [])
    packages = ",".join(recipe_entries(recipe / "debian-packages.txt"))
    mmdebstrap = [
        "mmdebstrap", "--mode=unshare", "--variant=minbase", "--format=tar", "--skip=output/dev",
        "--verbose", f"--include={packages}", *aptopts,
        "--customize-hook=rm -f \"$1\"/usr/lib/python3*/EXTERNALLY-MANAGED",
        "--customize-hook=" + _hook("upload", str(recipe.resolve() / "requirements.txt"),
                                    "/tmp/requirements.txt"),
        "--customize-hook=" + _hook("upload", str(HOST_CA_BUNDLE), "/tmp/host-ca.crt"),
        f"--customize-hook={PIP_HOOK}", f"--customize-hook={TIDY_HOOK}",
        SUITE, "-", debian_mirror(),
    ]
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # As root tar keeps the image's owners (by number: the host's names may differ); as a user
    # everything becomes the user's. Modes as in the image.
    tar = ["tar", "--extract", "--preserve-permissions", "--numeric-owner", "--directory", str(partial)]
    try:
        with open(log_path, "w") as log:
            log.write(f"$ {' '.join(mmdebstrap)} | {' '.join(tar)}\n")
            log.flush()
            # From /: the hooks run as the namespace's root, who may not enter the folder this
            # started in (find in a hook then fails).
            producer = subprocess.Popen(mmdebstrap, stdout=subprocess.PIPE, stderr=log, env=env, cwd="/")
            try:
                consumer = subprocess.run(tar, stdin=producer.stdout, stdout=log, stderr=log)
            except BaseException:
                producer.terminate()  # mmdebstrap removes its tree when stopped
                raise
            finally:
                producer.stdout.close()
            if producer.wait() != 0:
                raise _failed(mmdebstrap, log)
            if consumer.returncode != 0:
                raise _failed(tar, log)
        # What a runtime binds onto: /dev (left out of the tar: no device nodes as a user), and
        # the recipe's folders.
        (partial / "dev").mkdir(exist_ok=True)
        for folder in recipe_entries(recipe / "mount-points.txt"):
            (partial / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(dest)
