"""Debian's Chromium, as the screen tests (tests/screens) and `python -m bench dashboard` drive it through Playwright.

Only Debian's Chromium is used (`make browser` installs it): Playwright downloads no browser here. The flags keep it
from reaching for Google's hosts at start (this machine's network refuses them) and let it run as root in a container.
"""

import shutil

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1440, "height": 900}


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium is not installed: `make browser` installs Debian's (make test does it first)")
    return path
