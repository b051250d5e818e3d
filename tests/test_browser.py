"""The tutorial in a real browser: open the URL, type the password, run a cell in a new notebook."""

from __future__ import annotations

import shutil

import pytest

from conftest import User
from jupyter_session import parse_banner

CHROMIUM = "/usr/bin/chromium"
# As root, in a closed network: no sandbox, no background connections (see the shared notes).
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(tmp_path):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: tests/setup/install-system-packages installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS,
        )
        yield browser
        browser.close()


@pytest.fixture
def researcher():
    user = User.ordinary("tutorial")
    yield user
    user.account.remove()


def test_log_in_and_run_a_cell_in_jupyterlab(researcher, browser, tmp_path):
    user = researcher
    result = user.startnotebook("--name", "tutorial")
    assert result.returncode == 0, result.stderr
    url, password = parse_banner(result.stdout)

    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    page.locator(".jp-LauncherCard", has_text="Python 3").first.click()
    # As a user waits for the kernel indicator: JupyterLab drops a cell run before its kernel is
    # connected (the run then shows nothing).
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
    cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    cell.click()
    page.keyboard.type("print(6 * 7)")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output", has_text="42")
    output.wait_for()
    page.screenshot(path=str(tmp_path / "notebook.png"))
    assert "42" in output.first.inner_text()
    assert any(p.suffix == ".ipynb" for p in (user.home / "tutorial").iterdir())
