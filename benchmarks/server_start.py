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
  quick_imports.py): nothing uses it;
* the session's clock: its API (server/session_api.py, one of Jupyter's extra_services) and our
  JupyterLab extension (disabled through JupyterLab's page_config): missed (kept).

Besides the start (exec to the login page), each variant is timed from login to its first /lab
page, where JupyterLab reads the prebuilt extensions it serves, and, with the clock, for the
answer of GET /startnotebook/api/session.
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
import http.cookiejar
import urllib.parse
import urllib.request
from pathlib import Path

from startnotebook.launch.credentials import hash_password, write_new_proof_key
from startnotebook.launch.jupyter_config import SESSION_API
from startnotebook.sessions.records import LaunchRecord

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ALL = {"jupyterlab": True, "jupyter_server_terminals": True, "jupyter_lsp": True, "notebook_shim": True}
SESSION = {**ALL, "jupyter_lsp": False, "notebook_shim": False}
#: name: (server extensions, without the iri grammar, with the session's clock)
VARIANTS = {
    "everything installed (stock)": (ALL, False, False),
    "without jupyter_lsp": ({**ALL, "jupyter_lsp": False}, False, False),
    "without notebook_shim": ({**ALL, "notebook_shim": False}, False, False),
    "without terminals": ({**ALL, "jupyter_server_terminals": False}, False, False),
    "without the iri grammar": (ALL, True, False),
    "a session's server without its clock": (SESSION, True, False),
    "a session's server (startnotebook)": (SESSION, True, True),
}
CLOCK_FACTS = {"session_name": "benchmark", "flavour": "small", "cpus": 1, "memory_mb": 8192,
               "wall_time_minutes": 480, "warn_before_wall_time": [600, 120],
               "warn_before_notebook_timeout": [120]}


def start(home: Path, extensions: dict, quick: bool, clock: bool) -> dict[str, float]:
    launch = home / "launch"
    launch.mkdir(parents=True)
    write_new_proof_key(LaunchRecord(launch))  # a session's server proves itself with it, or exits
    config = home / "config.json"
    config.write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "port": 0, "open_browser": False, "allow_root": True,
                      "root_dir": str(home), "jpserver_extensions": extensions,
                      "extra_services": [SESSION_API] if clock else []},
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {"hashed_password": hash_password("benchmark")},
        "SessionServerApp": {"launch_folder": str(launch), **(CLOCK_FACTS if clock else {})},
    }))
    if not clock:
        labconfig = home / ".jupyter" / "labconfig"
        labconfig.mkdir(parents=True)
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {"startnotebook": True}}))
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
                    timings = {"start": time.monotonic() - begun}
                    break
            except OSError:
                time.sleep(0.02)
        return {**timings, **logged_in_timings(f"http://127.0.0.1:{port}", clock)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def logged_in_timings(url: str, clock: bool) -> dict[str, float]:
    """Seconds to the first /lab page after login, and to the session API's answer."""
    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                          urllib.request.HTTPCookieProcessor(cookies))
    browser.open(f"{url}/login", timeout=10).read()
    xsrf = next(cookie.value for cookie in cookies if cookie.name == "_xsrf")
    browser.open(f"{url}/login", urllib.parse.urlencode({"password": "benchmark", "_xsrf": xsrf}).encode(),
                 timeout=10).read()
    timings = {}
    for name, path in (("lab", "/lab"), ("api", "/startnotebook/api/session")):
        if name == "api" and not clock:
            continue
        begun = time.monotonic()
        browser.open(url + path, timeout=10).read()
        timings[name] = time.monotonic() - begun
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    times: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            for name, (extensions, quick, clock) in VARIANTS.items():
                home = Path(tmp) / f"{index}-{len(times[name])}-{hash(name)}"
                times[name].append(start(home, extensions, quick, clock))

    def median(name: str, what: str) -> float | None:
        values = [timing[what] for timing in times[name] if what in timing]
        return statistics.median(values) if values else None

    stock = median("everything installed (stock)", "start")
    print(f"{'variant':<38} {'median s':>9} {'vs stock':>9} {'/lab s':>7} {'API s':>7}")
    for name in times:
        start_s, lab, api = median(name, "start"), median(name, "lab"), median(name, "api")
        print(f"{name:<38} {start_s:>9.2f} {start_s - stock:>+9.2f} {lab:>7.3f} "
              f"{api if api is not None else float('nan'):>7.3f}")


if __name__ == "__main__":
    main()
