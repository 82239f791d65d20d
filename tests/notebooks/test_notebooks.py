"""The example notebooks, run top to bottom on a real Jupyter kernel against the data they make (and a real
dovecot for the audited mailbox), their results checked against what was put in and against the files they
leave behind. (tests/viewers/test_voila.py runs the quickstart in Voilà and a browser.)"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from servers.dovecot import DovecotServer, dovecot
from stdnum import iban, luhn
from stdnum.es import dni
from stdnum.fr import nir

import kloset
from kloset.viewers.widgets.notice import message_html

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CARDS_AND_IDS = {"credit_card", "us_ssn", "uk_nino", "fr_nir", "de_tax_id", "es_dni", "it_fiscal_code"}

# (mailbox, subject, body, what the audit must report: (category, masked sample for cards))
MAIL = [
    ("INBOX", "Invoice payment", "Please charge the card 4111 1111 1111 1111 for invoice 2211.",
     {("credit_card", "***1111")}),
    ("Finance", "Card update", "My new card is 5105-1051-0510-5100, expiring 12/29.", {("credit_card", "***5100")}),
    ("Finance", "Wire transfer", "Please wire the deposit to FR14 2004 1010 0505 0001 3M02 606.", set()),
    ("INBOX", "Social security file", "My NIR is 2 69 05 49 588 157 80, as asked.", {("fr_nir", None)}),
    ("INBOX", "Identity check", "DNI 12345678Z; the deposit goes on 4012 8888 8888 1881.",
     {("es_dni", None), ("credit_card", "***1881")}),
    ("INBOX", "Lunch", "Lunch on Friday at noon?", set()),
    ("INBOX", "Order shipped", "Order 4111 1111 1111 1112 has shipped.", set()),  # fails the Luhn check
]
# What the audit notebook's own documents must yield (it writes them itself).
DOCUMENTS = {
    "hr/employees.csv": {("uk_nino", None)},
    "finance/payments.txt": {("credit_card", "***0005")},
    "finance/refunds.csv": {("credit_card", "***4444")},
    "us/onboarding.txt": {("us_ssn", None)},
}


# -- running a notebook ------------------------------------------------------------------------------


def execute(name: str, cwd: Path, **env: str) -> Any:
    """Run a notebook in ``cwd`` with its temporary folders under ``cwd``; the notebook with its outputs."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env={**os.environ, "TMPDIR": str(cwd), **env})
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            # A failing display (a broken _repr_html_) leaves an error output without failing the cell.
            assert out["output_type"] != "error", f"{out['ename']}: {out['evalue']} in\n{cell.source}"
            assert "Traceback" not in out.get("text", ""), out["text"]
    # A widget shows its failures in a notice rather than raising.
    failed = message_html(Exception()).split("<b>")[0]
    assert not [s for s in strings(widget_state(nb)) if failed in s]
    return nb


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for v in value.values() if isinstance(value, dict) else value:
            yield from strings(v)


def cell(nb: Any, tag: str) -> Any:
    (found,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return found


def stdout(c: Any) -> str:
    return "".join(o["text"] for o in c.outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def printed(c: Any, label: str) -> str:
    """What a cell printed after ``label:`` (up to the end of the line or the next label)."""
    match = re.search(rf"^.*?\b{re.escape(label)}: (.*?)(?: \w[\w ]*: |$)", stdout(c), re.MULTILINE)
    assert match, f"{label!r} not printed in {stdout(c)!r}"
    return match.group(1)


def data(c: Any, mime: str) -> list[Any]:
    return [o["data"][mime] for o in c.outputs if mime in o.get("data", {})]


def widget_state(nb: Any) -> dict[str, Any]:
    state: dict[str, Any] = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return state


def widget_text(nb: Any, c: Any) -> str:
    """The text in the state of every widget model a cell displayed, and of the models those hold."""
    state, seen = widget_state(nb), set()
    todo = [d["model_id"] for d in data(c, WIDGET)]
    while todo:
        model = todo.pop()
        if model in seen or model not in state:
            continue
        seen.add(model)
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model]["state"]))
    assert seen, "no widget was displayed"
    return "\n".join(strings([state[m]["state"] for m in sorted(seen)]))


def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


# -- quickstart ----------------------------------------------------------------------------------------


def test_quickstart_backs_up_browses_restores_identical_files_and_backs_up_incrementally(tmp_path: Path) -> None:
    nb = execute("quickstart", tmp_path)
    work = only(tmp_path, "kloset-quickstart-*")

    short_id = printed(cell(nb, "backup"), "snapshot")
    assert any(short_id in html for html in data(cell(nb, "backup"), "text/html"))
    assert any(short_id in html for html in data(cell(nb, "store"), "text/html"))
    assert any("prices.csv" in html for html in data(cell(nb, "entry"), "text/html"))
    assert "file  docs/readme.txt" in stdout(cell(nb, "listdir"))

    browser = cell(nb, "browser")
    assert printed(browser, "shown in docs") == "['notes', 'readme.txt']"
    assert printed(browser, "selected") == repr([str(work / "sample/docs/readme.txt")])
    shown = widget_text(nb, browser)
    assert "readme.txt" in shown and "kloset keeps deduplicated" in shown  # the listing, and the preview

    restore = cell(nb, "restore")
    assert printed(restore, "restored identical") == "True"
    restored = sorted(p.relative_to(work / "restored") for p in (work / "restored").rglob("*") if p.is_file())
    assert restored == [Path("notes/todo.md"), Path("readme.txt")]
    assert int(printed(restore, "files restored")) == len(restored)
    for p in restored:
        assert (work / "restored" / p).read_bytes() == (work / "sample/docs" / p).read_bytes()

    incremental = cell(nb, "incremental")
    # One file changed and one added: the three others are taken from the first snapshot unread.
    assert (printed(incremental, "files"), printed(incremental, "reused")) == ("5", "3")
    changes = {tuple(line.split()) for line in stdout(cell(nb, "diff")).splitlines()[1:]}
    assert changes == {("/data/prices.csv", "modified"), ("/docs/notes/ideas.md", "added")}


def test_quickstart_runs_unattended_anywhere() -> None:
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "input(" not in source and "getpass" not in source
    assert not re.search(r"[\"'](/|~|[A-Za-z]:\\\\)", source), "a path of this machine in the notebook"


@pytest.mark.parametrize("name", ["quickstart", "gdpr_audit", "sql"])
def test_notebooks_are_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata


# -- GDPR audit --------------------------------------------------------------------------------------


@pytest.fixture
def mailbox() -> Iterator[DovecotServer]:
    with dovecot() as server:
        with server.client() as imap:
            imap.create_folder("Finance")
            for n, (folder, subject, body, _) in enumerate(MAIL):
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = "Alice <alice@example.org>", "bob@example.com", subject
                msg["Message-ID"] = f"<audit-{n}@example.org>"
                msg["Date"] = "Mon, 02 Nov 2026 10:00:00 +0000"
                msg.set_content(body + "\n")
                imap.append(folder, msg.as_bytes(), (), datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC))
        yield server


def test_planted_values_are_valid_or_invalid_as_meant() -> None:
    assert all(luhn.is_valid(c) for c in ("4111111111111111", "5105105105105100", "4012888888881881"))
    assert not luhn.is_valid("4111111111111112")
    assert nir.is_valid("269054958815780") and dni.is_valid("12345678Z")
    assert iban.is_valid("FR1420041010050500013M02606")


def exported_report(nb: Any, cwd: Path) -> list[dict[str, str]]:
    """The rows of the CSV report the audit exported."""
    with open(cwd / "audit-report/cards_and_national_ids.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert int(printed(cell(nb, "export"), "exported").split()[0]) == len(rows)
    assert {r["category"] for r in rows} <= CARDS_AND_IDS
    return rows


def reported(rows: list[dict[str, str]]) -> dict[tuple[str, str], set[tuple[str, str | None]]]:
    """(source, planted subject or document) -> (category, masked card) the report has for it."""
    found: dict[tuple[str, str], set[tuple[str, str | None]]] = {}
    for r in rows:
        if r["source"] == "mail":
            (subject,) = [s for _, s, _, _ in MAIL if s in r["path"]]
            key = ("mail", subject)
        else:
            assert r["source"] == "documents"
            key = ("documents", r["path"].split("/documents/", 1)[1])
        found.setdefault(key, set()).add((r["category"], r["sample"] if r["category"] == "credit_card" else None))
    return found


def test_gdpr_audit_without_a_mailbox_audits_the_documents(tmp_path: Path) -> None:
    nb = execute("gdpr_audit", tmp_path, KLOSET_AUDIT_IMAP="")
    assert printed(cell(nb, "config"), "mailbox").startswith("none")
    assert reported(exported_report(nb, tmp_path)) == {("documents", n): e for n, e in DOCUMENTS.items()}


def test_gdpr_audit_reports_exactly_the_planted_cards_and_national_ids(mailbox: DovecotServer,
                                                                        tmp_path: Path) -> None:
    nb = execute("gdpr_audit", tmp_path, KLOSET_AUDIT_IMAP=json.dumps(mailbox.config()))
    assert printed(cell(nb, "config"), "mailbox") == mailbox.config()["location"]

    rows = exported_report(nb, tmp_path)
    planted = {("mail", subject): expected for _, subject, _, expected in MAIL if expected}
    planted |= {("documents", name): expected for name, expected in DOCUMENTS.items()}
    assert reported(rows) == planted
    refunds = [r for r in rows if r["path"].endswith("/refunds.csv")]
    assert [r["count"] for r in refunds] == ["2"]
    report = cell(nb, "report")
    assert (printed(report, "files"), printed(report, "findings")) == (str(len(planted)), str(len(rows)))

    page = (tmp_path / "audit-report/report.html").read_text(encoding="utf-8")
    assert "<table" in page and "data:image/png;base64," in page
    assert all(r["path"] in page and r["sample"] in page for r in rows)

    dashboard = widget_text(nb, cell(nb, "dashboard"))
    assert "credit_card" in dashboard and "fr_nir" in dashboard
    assert data(cell(nb, "by-snapshot"), "text/html")
    assert data(cell(nb, "plot"), "image/png")


# -- SQL ------------------------------------------------------------------------------------------------


def test_sql_notebook_finds_growth_duplicates_changes_and_reads_files_inside_backups(tmp_path: Path) -> None:
    nb = execute("sql", tmp_path)
    work = only(tmp_path, "kloset-sql-*")
    source = work / "source"
    store = kloset.open(str(work / "store"))

    assert len(data(cell(nb, "growth"), "text/html")) == 1
    assert data(cell(nb, "plot-growth"), "image/png")

    # Duplicates, as the source folder (which the latest snapshot holds) has them.
    by_hash: dict[str, list[Path]] = {}
    for p in source.rglob("*"):
        if p.is_file() and p.stat().st_size:
            by_hash.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), []).append(p)
    groups = [ps for ps in by_hash.values() if len(ps) > 1]
    assert groups, "the notebook made no duplicates"
    wasted = sum((len(ps) - 1) * ps[0].stat().st_size for ps in groups)
    dups = cell(nb, "duplicates")
    assert printed(dups, "duplicate groups") == str(len(groups))
    assert printed(dups, "wasted bytes") == str(wasted)
    listed = {frozenset(line.split(": ", 1)[1].split(", ")) for line in stdout(dups).splitlines()
              if "bytes wasted" in line}
    assert listed == {frozenset(str(p.relative_to(source)) for p in ps) for ps in groups}

    assert printed(cell(nb, "week"), "snapshots this week").startswith(f"{len(store.snapshots())} ")
    diff = cell(nb, "diff")
    assert printed(diff, "sql and snap.diff agree") == "True"
    changes = [line.split(None, 1) for line in stdout(diff).splitlines() if not line.startswith("sql and")]
    assert ["removed", "/reports/q1.txt"] in changes and ["modified", "/data/sales.csv"] in changes
    for change, path in changes:
        assert (source / path.lstrip("/")).exists() == (change != "removed")

    explorer = cell(nb, "explorer")
    assert data(explorer, WIDGET)
    with open(tmp_path / "largest_files.csv", newline="") as f:
        exported = list(csv.DictReader(f))
    files = store.sql("SELECT count(*) AS n FROM files WHERE type = 'file'")["n"].iloc[0]
    assert int(printed(explorer, "exported rows")) == len(exported) == files
    assert printed(explorer, "rows on this page") == f"5 of {files}"  # the second page of five
    assert "beach.jpg" in widget_text(nb, explorer)  # the largest file heads the grid

    with open(source / "data/sales.csv", newline="") as f:
        total = sum(int(r["amount"]) for r in csv.DictReader(f))
    assert printed(cell(nb, "read-csv"), "sales total in the latest backup") == str(total)
    assert any("clean up the archive" in html for html in data(cell(nb, "read-text"), "text/html"))
