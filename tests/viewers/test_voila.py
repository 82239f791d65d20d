"""The quickstart notebook served by Voilà on 127.0.0.1 and used in headless Chromium, as a person would.

Voilà runs the notebook top to bottom on a real kernel and renders its outputs, widgets included; the
test then expands folders of the snapshot browser in the page, selects a file, and checks what the page
shows. A screenshot of the page is kept in the test's folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .voila import chromium, serve

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


@pytest.mark.timeout(300)
def test_the_quickstart_runs_in_a_browser_and_its_snapshot_browser_expands_a_folder(tmp_path: Path) -> None:
    with serve(NOTEBOOK, tmp_path, {"TMPDIR": str(tmp_path)}) as url, chromium() as page:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        # The notebook expanded docs and selected its readme: both are in the page once Voilà is done.
        page.get_by_role("button", name="▾ docs").wait_for(timeout=180_000)
        assert page.get_by_role("button", name="readme.txt").is_visible()
        assert page.get_by_text("kloset keeps deduplicated, encrypted snapshots.").first.is_visible()

        # A click on a folder in the page lists it: its entries come from the kernel.
        page.get_by_role("button", name="▸ data").click()
        page.get_by_role("button", name="prices.csv").wait_for(timeout=30_000)
        assert page.get_by_role("button", name="▾ data").is_visible()
        box = page.get_by_role("button", name="prices.csv").bounding_box()
        assert box is not None and box["height"] >= 20  # a row a person can read and click
        page.get_by_role("button", name="prices.csv").click()
        page.get_by_text("apple,1.20").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="▾ docs").click()  # collapses
        page.get_by_role("button", name="readme.txt").wait_for(state="detached", timeout=30_000)
        page.screenshot(path=str(tmp_path / "quickstart.png"), full_page=True)
    assert (tmp_path / "quickstart.png").stat().st_size > 10_000
    assert "Traceback" not in (tmp_path / "voila.log").read_text()
