"""The notebook image: built from the recipe in envs/notebook, named by the recipe's digest.

A directory image (what Charliecloud runs without FUSE): Debian's minbase from the build host's
own Debian mirror (debootstrap), then the recipe's Python packages from PyPI into the image's
system Python. The name carries a digest of the recipe, so a changed recipe is a new image (the
workflow builds it) and an unchanged one is found as built. Building needs root (debootstrap,
chroot): a site builds once into a shared image folder, or points container.image at its own.

    python -m startnotebook.image build RECIPE_DIR IMAGE [PROXY]

PROXY (site config container.build_proxy) is for build hosts without a way out, such as compute
nodes: debootstrap and pip reach the Debian mirror and PyPI through it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import ContainerError

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


def _run(command: list[str], log) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise ContainerError(f"image build failed at: {' '.join(command[:3])} ... (see {log.name})")


def build(recipe: Path, dest: Path, proxy: str | None = None) -> None:
    """Build the image of ``recipe`` at ``dest``, atomically: a failed build leaves no image."""
    if proxy:
        os.environ.update(http_proxy=proxy, https_proxy=proxy)
    if os.geteuid() != 0:
        raise ContainerError("building the notebook image needs root (debootstrap, chroot)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.with_name(dest.name + ".log"), "w") as log:
        packages = ",".join(_entries(recipe / "debian-packages.txt"))
        _run(["debootstrap", "--variant=minbase", f"--include={packages}", SUITE, str(partial),
              debian_mirror()], log)
        # pip may install into the system Python of the image, and so may `pip install --user`.
        for marker in partial.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        shutil.copy(recipe / "requirements.txt", partial / "tmp/requirements.txt")
        # TLS to the registry may be intercepted by a proxy the host trusts: trust what it trusts.
        shutil.copy(HOST_CA_BUNDLE, partial / "tmp/host-ca.crt")
        proxies = [f"{key}={value}" for key, value in os.environ.items()
                   if key.lower() in ("http_proxy", "https_proxy", "no_proxy")]
        _run(["chroot", str(partial), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/root",
              "PIP_CERT=/tmp/host-ca.crt", *proxies, "python3", "-m", "pip", "install", "--no-cache-dir",
              "--root-user-action=ignore", "--no-warn-script-location", "--quiet",
              "-r", "/tmp/requirements.txt"], log)
        for name in ("requirements.txt", "host-ca.crt"):
            (partial / "tmp" / name).unlink()
        for folder in _entries(recipe / "mount-points.txt"):
            (partial / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[0] != "build":
        raise SystemExit("usage: python -m startnotebook.image build RECIPE_DIR IMAGE [PROXY]")
    _, recipe, dest, *proxy = argv
    try:
        build(Path(recipe), Path(dest), *proxy)
    except ContainerError as error:
        print(f"startnotebook: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
