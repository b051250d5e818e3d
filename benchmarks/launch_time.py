"""How long a launch takes, against the bare Jupyter server it starts (the baseline), same run.

    .venv/bin/python benchmarks/launch_time.py [--rounds 3]

Prints seconds per round and the ratio launch / baseline. The baseline is the floor: the same
server (startnotebook.jupyter_app, JupyterLab) started directly and polled until /login answers.
The launch adds the workflow (Snakemake, five steps as processes), the credentials and the
handover. Machines here are shared and noisy: compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas

from startnotebook.credentials import hash_password

BIN = Path(sys.executable).parent


def wait_for_login(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/login", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def bare_server(home: Path) -> float:
    """Seconds from exec to a server answering /login, without startnotebook around it."""
    handover = home / "handover.json"
    config = home / "config.json"
    config.write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "port": 0, "open_browser": False, "allow_root": True,
                      "root_dir": str(home)},
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {"hashed_password": hash_password("benchmark")},
        "SessionServerApp": {"handover_file": str(handover)},
    }))
    start = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "startnotebook.jupyter_app",
         f"--SessionServerApp.session_config_file={config}"],
        env={**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        while not handover.exists():
            time.sleep(0.05)
        record = json.loads(handover.read_text())
        wait_for_login(f"http://{record['host']}:{record['port']}")
        return time.monotonic() - start
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def launch(home: Path, name: str) -> float:
    """Seconds from typing `startnotebook` to its printed URL."""
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "startnotebook"), "--name", name, "--json"],
        env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, check=True,
    )
    elapsed = time.monotonic() - start
    connection = json.loads(result.stdout)
    os.killpg(int(connection["job_id"]), signal.SIGTERM)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for index in range(rounds):
            # Interleaved, so that a noisy moment hits both sides alike.
            bare_home = home / f"bare-{index}"
            bare_home.mkdir()
            rows.append({"round": index, "what": "baseline: bare server", "seconds": bare_server(bare_home)})
            rows.append({"round": index, "what": "startnotebook launch", "seconds": launch(home, f"bench-{index}")})
    table = pandas.DataFrame(rows)
    summary = table.groupby("what")["seconds"].agg(["median", "min", "max"]).round(2)
    print(table.pivot(index="round", columns="what", values="seconds").round(2).to_string())
    print()
    print(summary.to_string())
    ratio = summary.loc["startnotebook launch", "median"] / summary.loc["baseline: bare server", "median"]
    print(f"\nlaunch / baseline (medians): {ratio:.1f}x")


if __name__ == "__main__":
    main()
