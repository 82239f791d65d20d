"""The quickstart notebook served by Voilà on 127.0.0.1 and used in headless Chromium, as a person would.

Voilà runs the notebook top to bottom on a real kernel and renders its outputs, widgets included; the
test then expands folders of the snapshot browser in the page, selects a file, and checks what the page
shows. A screenshot of the page is kept in the test's folder.
"""

from __future__ import annotations

import re
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
        text = page.locator("body").inner_text()
    # The backups' progress bars stay in the page as finished bars (a closed widget would say "model not
    # found"), with bytes, rate and files.
    assert "model not found" not in text and "Error displaying widget" not in text
    assert len(re.findall(r"backup:\W+\d+\S*/\S+\W+\[[^]]*B/s,\W+\d+(/\d+)?\W+files\]", text)) == 2, text
    assert (tmp_path / "quickstart.png").stat().st_size > 10_000
    assert "Traceback" not in (tmp_path / "voila.log").read_text()


@pytest.mark.timeout(300)
def test_the_sql_notebook_explorer_runs_a_query_typed_in_the_browser_and_pages(tmp_path: Path) -> None:
    with serve(NOTEBOOK.with_name("sql.ipynb"), tmp_path, {"TMPDIR": str(tmp_path)}) as url, chromium() as page:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        editor = page.locator("textarea").first
        editor.wait_for(timeout=180_000)
        editor.fill("SELECT snapshot_id, path FROM files ORDER BY path, snapshot_id")
        editor.blur()  # the text reaches the kernel
        page.get_by_role("button", name="Run").click()
        first = page.get_by_text(re.compile(r"^rows 1–5 of \d+$"))
        first.wait_for(timeout=30_000)
        total = int(first.inner_text().rsplit(" ", 1)[-1])
        assert total > 10
        page.get_by_role("button", name="Next").click()
        page.get_by_text(f"rows 6–10 of {total}").wait_for(timeout=30_000)
        editor.fill("SELECT nope FROM nowhere")
        editor.blur()
        page.get_by_role("button", name="Run").click()
        page.get_by_text("Query error").wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "sql.png"), full_page=True)
    assert "Traceback" not in (tmp_path / "voila.log").read_text()


@pytest.mark.timeout(300)
def test_the_audit_notebook_dashboard_drills_down_in_the_browser(tmp_path: Path) -> None:
    # Without KLOSET_AUDIT_IMAP, the notebook audits its documents folder alone.
    with serve(NOTEBOOK.with_name("gdpr_audit.ipynb"), tmp_path, {"TMPDIR": str(tmp_path)}) as url, \
            chromium() as page:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.get_by_text("Data classes per snapshot").wait_for(timeout=180_000)
        folders = page.locator(".widget-select select").first
        options = folders.locator("option").all_inner_texts()
        assert options, "the dashboard lists the folders of the snapshot"
        folders.select_option(index=0)
        page.locator(".kloset-grid td").first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
    assert "Traceback" not in (tmp_path / "voila.log").read_text()
