"""Voilà serving a notebook on 127.0.0.1, and headless Chromium to use it: for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root and in a closed network, Chromium needs these to start and to stay off the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


class ServerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(notebook: Path, work: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve a copy of ``notebook`` in ``work`` with Voilà (a kernel runs it for each page load, in
    ``work``, so what it writes stays there); yield its URL. The server's log is ``work/voila.log``; its
    Jupyter and kloset caches live under ``work`` too."""
    port = _free_port()
    copy = work / notebook.name
    if copy != notebook:
        shutil.copyfile(notebook, copy)
    full = {**os.environ, "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "JUPYTER_DATA_DIR": str(work / "data"),
            "XDG_CACHE_HOME": str(work / "cache"), "XDG_CONFIG_HOME": str(work / "config"), **(env or {})}
    with (work / "voila.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "voila", copy.name, "--no-browser", f"--port={port}",
                                 "--Voila.ip=127.0.0.1"], cwd=work, env=full, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"voila did not start: {(work / 'voila.log').read_text()[-2000:]}")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright page in Debian's headless Chromium (Playwright downloads no browser of its own)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise ServerError("Chromium is missing: tests/servers/install.sh installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()
