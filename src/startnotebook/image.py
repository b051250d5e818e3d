"""The notebook image: built from the recipe in envs/notebook, named by the recipe's digest.

A directory image (what Charliecloud runs without FUSE): Debian's minbase from the build host's
own Debian mirror (debootstrap), then the recipe's Python packages from PyPI into the image's
system Python. The name carries a digest of the recipe, so a changed recipe is a new image (the
workflow builds it) and an unchanged one is found as built. Building needs root (debootstrap,
chroot): a site builds once into a shared image folder, or points container.image at its own.

The workflow first stages the recipe into ``<image_dir>/recipes/<digest>`` (with the build
settings, such as ``container.build_proxy`` for build hosts without a way out, in build.json):
the build, which may run as a batch job on a compute node, then needs nothing but that folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import resources
from .config import ContainerSite
from .errors import ConfigError, ContainerError
from .job import Container

RECIPE_FILES = ("debian-packages.txt", "requirements.txt", "mount-points.txt")
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def recipe_digest(recipe: Path) -> str:
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (recipe / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_path(image_dir: Path, recipe: Path) -> Path:
    return image_dir / f"notebook-{recipe_digest(recipe)}"


def staged_recipe(image: Path) -> Path:
    """Where the recipe of ``image`` is staged for its build: <image_dir>/recipes/<digest>."""
    return image.parent / "recipes" / image.name.removeprefix("notebook-")


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


def stage_recipe(recipe: Path, staged: Path, proxy: str | None) -> None:
    """Copy ``recipe`` with its build settings where the build (maybe a batch job) finds them."""
    partial = staged.with_name(staged.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in RECIPE_FILES:
        shutil.copy(recipe / name, partial / name)
    (partial / "build.json").write_text(json.dumps({"proxy": proxy}) + "\n")
    shutil.rmtree(staged, ignore_errors=True)
    partial.rename(staged)


def image_state(image_dir: Path, recipe: Path) -> str:
    """built, to build (none yet), or stale (only images of an older recipe exist)."""
    if image_path(image_dir, recipe).is_dir():
        return "built"
    if image_dir.is_dir() and any(image_dir.glob("notebook-????????????")):
        return "stale"
    return "to build"


def _entries(path: Path) -> list[str]:
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


def _run(command: list[str], log, env: dict[str, str]) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise ContainerError(f"image build failed at: {' '.join(command[:3])} ... (see {log.name})")


def build(recipe: Path, dest: Path, log_path: Path) -> None:
    """Build the image of the staged ``recipe`` at ``dest``, atomically: a failed build leaves no image."""
    proxy = json.loads((recipe / "build.json").read_text()).get("proxy")
    env = {**os.environ, **({"http_proxy": proxy, "https_proxy": proxy} if proxy else {})}
    if os.geteuid() != 0:
        raise ContainerError("building the notebook image needs root (debootstrap, chroot)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        packages = ",".join(_entries(recipe / "debian-packages.txt"))
        _run(["debootstrap", "--variant=minbase", f"--include={packages}", SUITE, str(partial),
              debian_mirror()], log, env)
        # pip may install into the system Python of the image, and so may `pip install --user`.
        for marker in partial.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        shutil.copy(recipe / "requirements.txt", partial / "tmp/requirements.txt")
        # TLS to the registry may be intercepted by a proxy the host trusts: trust what it trusts.
        shutil.copy(HOST_CA_BUNDLE, partial / "tmp/host-ca.crt")
        proxies = [f"{key}={value}" for key, value in env.items()
                   if key.lower() in ("http_proxy", "https_proxy", "no_proxy")]
        _run(["chroot", str(partial), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/root",
              "PIP_CERT=/tmp/host-ca.crt", *proxies, "python3", "-m", "pip", "install", "--no-cache-dir",
              "--root-user-action=ignore", "--no-warn-script-location", "--quiet",
              "-r", "/tmp/requirements.txt"], log, env)
        for name in ("requirements.txt", "host-ca.crt"):
            (partial / "tmp" / name).unlink()
        for folder in _entries(recipe / "mount-points.txt"):
            (partial / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
