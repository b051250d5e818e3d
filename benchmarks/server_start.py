"""What a session's Jupyter server costs to start, by what it loads, in one run.

    .venv/bin/python benchmarks/server_start.py [--rounds 5]

Each variant starts the session's server (python -P -m startnotebook.server) with a config that
differs only in what it loads, and is timed from exec to its login page answering; variants are
interleaved round by round. What the variants leave out, and whether a notebook user misses it:

* jupyter_lsp: language-server support for JupyterLab; it scans for language servers at every start
  and the image has none: not missed;
* notebook_shim: a bridge for extensions of the classic notebook server; none is installed: not
  missed;
* jupyter_server_terminals: the Terminal in JupyterLab's launcher: missed (kept);
* the rfc3987_syntax grammar jsonschema compiles at import for the "iri" format (see
  quick_imports.py): nothing uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from startnotebook.credentials import hash_password

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ALL = {"jupyterlab": True, "jupyter_server_terminals": True, "jupyter_lsp": True, "notebook_shim": True}
VARIANTS = {
    "everything installed (stock)": (ALL, False),
    "without jupyter_lsp": ({**ALL, "jupyter_lsp": False}, False),
    "without notebook_shim": ({**ALL, "notebook_shim": False}, False),
    "without terminals": ({**ALL, "jupyter_server_terminals": False}, False),
    "without the iri grammar": (ALL, True),
    "a session's server (startnotebook)": ({**ALL, "jupyter_lsp": False, "notebook_shim": False}, True),
}


def start(home: Path, extensions: dict, quick: bool) -> float:
    launch = home / "launch"
    launch.mkdir(parents=True)
    config = home / "config.json"
    config.write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "port": 0, "open_browser": False, "allow_root": True,
                      "root_dir": str(home), "jpserver_extensions": extensions},
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {"hashed_password": hash_password("benchmark")},
        "SessionServerApp": {"launch_folder": str(launch)},
    }))
    if quick:
        argv = [sys.executable, "-P", "-m", "startnotebook.server", str(config)]
    else:
        # The session's server skips the grammar; imported first, it is compiled as stock Jupyter does.
        argv = [sys.executable, "-P", "-c", "import rfc3987_syntax, runpy; "
                "runpy.run_module('startnotebook.server', run_name='__main__')", str(config)]
    begun = time.monotonic()
    server = subprocess.Popen(argv, env={**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter")},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not (launch / "handover.json").exists():
            if server.poll() is not None:
                raise RuntimeError(f"the server exited ({server.returncode})")
            time.sleep(0.02)
        port = json.loads((launch / "handover.json").read_text())["port"]
        while True:
            try:
                with DIRECT.open(f"http://127.0.0.1:{port}/login", timeout=2):
                    return time.monotonic() - begun
            except OSError:
                time.sleep(0.02)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            for name, (extensions, quick) in VARIANTS.items():
                times[name].append(start(Path(tmp) / f"{index}-{len(times[name])}-{hash(name)}", extensions, quick))
    stock = statistics.median(times["everything installed (stock)"])
    print(f"{'variant':<38} {'median s':>9} {'vs stock':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<38} {median:>9.2f} {median - stock:>+9.2f}")


if __name__ == "__main__":
    main()
