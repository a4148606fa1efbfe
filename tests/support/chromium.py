"""Headless Debian Chromium for the browser tests, driven by Playwright for Python.

Playwright's own browser download is never used: ``/usr/bin/chromium`` (or
``MLFLOW_DEBT_TEST_CHROMIUM``). Without Chromium or Playwright a test skips locally and fails
under ``CI=true`` (``.ci/run`` installs both).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MLFLOW_DEBT_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI needs it: .ci/run installs it)")
    pytest.skip(reason)


@contextlib.contextmanager
def launch(profile: Path, width: int, height: int) -> Iterator[Any]:
    """A browser context on a fresh profile directory, ``width`` x ``height`` viewport."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        # A persistent context gives Chromium its own fresh --user-data-dir.
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()
