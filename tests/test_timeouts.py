"""An idle kernel is culled even with its tab open; then the server stops and leaves nothing."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import job_of, wait_until
from jupyter_session import JupyterSession, parse_banner

LATENESS_ALLOWED = 15


def launch_with_open_tab(user, name: str, *options: str):
    """Launch, log in, start a kernel and hold its websocket open as a notebook tab does."""
    result = user.startnotebook("--name", name, *options)
    assert result.returncode == 0, result.stderr
    jupyter = JupyterSession(*parse_banner(result.stdout))
    kernel_id = jupyter.start_kernel()
    return jupyter, kernel_id, jupyter.connect(kernel_id)


def test_idle_kernel_is_culled_then_the_server_stops(user):
    jupyter, _, tab = launch_with_open_tab(user, "short", "--kernel-timeout", "5",
                                           "--notebook-timeout", "10")
    assert tab.execute("1 + 1") == "2"
    last_activity = time.monotonic()

    # The tab stays connected, as a browser tab would, and sends nothing.
    culled = wait_until(lambda: jupyter.kernels() == [], 5 + LATENESS_ALLOWED + 5)
    culled_after = time.monotonic() - last_activity
    assert culled, "the idle kernel was not culled"
    assert culled_after <= 5 + LATENESS_ALLOWED, culled_after

    # From now on no kernel exists: the server must stop within 10 + 15 s, tab or no tab.
    job = job_of(user.home / "short")
    stopped = wait_until(lambda: not Path(f"/proc/{job['id']}").exists(), 10 + LATENESS_ALLOWED + 5)
    stopped_after = time.monotonic() - last_activity - culled_after
    assert stopped, "the server did not stop"
    assert stopped_after <= 10 + LATENESS_ALLOWED, stopped_after
    tab.close()
    assert wait_until(lambda: not user.server_processes(), 10), user.server_processes()
    assert (user.home / "short" / ".ipython").is_dir()


def test_a_busy_kernel_is_not_culled(user):
    jupyter, kernel_id, tab = launch_with_open_tab(user, "busy", "--kernel-timeout", "2",
                                                   "--notebook-timeout", "60")
    # Runs three times the kernel timeout plus a few cull intervals without any output.
    assert tab.execute("import time; time.sleep(10); 'done'") == "'done'"
    assert [k["id"] for k in jupyter.kernels()] == [kernel_id]
    tab.close()
