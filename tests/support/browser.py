"""A real browser for the tests: headless Chromium (Debian's `chromium`) renders a page to PNG.

The tests that need it fail, never skip, when it is missing: `make test` and CI install it
(deploy/browser.sh).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL_HINT = "`make test` installs it (deploy/browser.sh), or: apt-get install -y chromium"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(f"chromium is not installed: {INSTALL_HINT}", pytrace=False)
    return found


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    """`page` rendered at one CSS pixel a device pixel in a `width` x `height` window, into `png`.

    A fresh profile each time, and nothing that reaches out to the network on its own.
    """
    with tempfile.TemporaryDirectory(prefix="carecoord-chromium-") as profile:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # as root (CI): Chromium's sandbox refuses to start otherwise
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--force-device-scale-factor=1",
                "--hide-scrollbars",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0 and png.exists(), (
        f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    )
