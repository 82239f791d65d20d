"""The findings dashboard, driven as a notebook user drives it: the snapshot picker, the depth slider,
the folder and category pickers, Up, and the pages of files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset
from kloset.viewers.widgets import FindingsDashboard
from kloset.viewers.widgets.dashboard import NO_FINDINGS

IBAN = "DE89370400440532013000"
MAILS = 60


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(path / "cache"))
        yield path


@pytest.fixture(scope="module")
def src(base: Path) -> Path:
    root = base / "src"
    for folder in ("people/hr", "finance/2024/q1", "mail"):
        (root / folder).mkdir(parents=True)
    (root / "notes.txt").write_text("ask carl@example.net\n")
    (root / "people" / "contacts.txt").write_text("anna.smith@example.com, bob@example.org\n")
    (root / "people" / "hr" / "pay.txt").write_text(f"IBAN {IBAN}\ncard 4111 1111 1111 1111\n")
    (root / "people" / "hr" / "clean.txt").write_text("nothing personal here\n")
    (root / "finance" / "2024" / "q1" / "transfer.txt").write_text(f"to {IBAN}\n")
    (root / "finance" / "readme.txt").write_text("quarterly figures\n")
    for i in range(MAILS):
        (root / "mail" / f"m{i:02}.txt").write_text(f"reply to user{i}@example.com\n")
    return root


@pytest.fixture(scope="module")
def store(base: Path, src: Path) -> Iterator[kloset.Store]:
    """Two snapshots: the second has one more file with the IBAN (in finance/2024/q2)."""
    s = kloset.create(str(base / "store"), plaintext=True)
    s.backup(str(src), analyze=["gdpr", "email"])
    (src / "finance" / "2024" / "q2").mkdir()
    (src / "finance" / "2024" / "q2" / "transfer.txt").write_text(f"from {IBAN}\n")
    s.backup(str(src), analyze=["gdpr", "email"])
    yield s
    s.close()


@pytest.fixture
def dashboard(store: kloset.Store) -> FindingsDashboard:
    return FindingsDashboard(store)


def _row(frame: object, column: str, key: str) -> dict[str, int]:
    rows = frame.set_index(column)  # type: ignore[attr-defined]
    return {str(k): int(v) for k, v in rows.loc[key].items() if k not in ("short_id", "timestamp", "root")}


def test_data_classes_per_snapshot_newest_first(dashboard: FindingsDashboard, store: kloset.Store) -> None:
    old, new = store.snapshots()
    table = dashboard.by_snapshot()
    assert list(table["snapshot_id"]) == [new.id, old.id]
    assert _row(table, "snapshot_id", new.id) == {"credit_card": 1, "email": 2 + MAILS, "iban": 3,
                                                  "files": 5 + MAILS}
    assert _row(table, "snapshot_id", old.id)["iban"] == 2
    shown = dashboard.snapshots_table.html.value
    assert new.short_id in shown and old.short_id in shown and "credit_card" in shown
    assert dashboard.message.value == ""


def test_it_opens_the_newest_snapshot_at_its_root(dashboard: FindingsDashboard, store: kloset.Store,
                                                  src: Path) -> None:
    root = str(src)
    assert dashboard.snapshot_id == store.snapshot().id and dashboard.picker.value == store.snapshot().id
    assert dashboard.folder == root and dashboard.up_button.disabled
    folders = dashboard.by_folder()
    assert list(folders["folder"]) == [root, f"{root}/finance", f"{root}/mail", f"{root}/people"]
    assert _row(folders, "folder", root) == {"credit_card": 0, "email": 1, "iban": 0, "files": 1}
    assert _row(folders, "folder", f"{root}/finance") == {"credit_card": 0, "email": 0, "iban": 2, "files": 2}
    assert _row(folders, "folder", f"{root}/people") == {"credit_card": 1, "email": 1, "iban": 1, "files": 2}
    assert _row(folders, "folder", f"{root}/mail")["email"] == MAILS
    assert dashboard.by_folder(folder=f"{root}/people/").equals(dashboard.by_folder(folder=f"{root}/people"))
    shown = dashboard.folders_table.html.value
    assert f"{root}/people" in shown and f"{root}/people/hr" not in shown
    assert dict(dashboard.folder_picker.options)["people  (2 files)"] == f"{root}/people"


def test_the_depth_slider_groups_by_deeper_folders(dashboard: FindingsDashboard, src: Path) -> None:
    root = str(src)
    dashboard.depth.value = 3
    shown = dashboard.folders_table.html.value
    for folder in ("finance/2024/q1", "finance/2024/q2", "people/hr"):
        assert f"{root}/{folder}" in shown
    assert f"{root}/finance/2024<" not in shown
    folders = dashboard.by_folder()
    # contacts.txt lies above depth 3: it is counted in its own folder.
    assert _row(folders, "folder", f"{root}/people") == {"credit_card": 0, "email": 1, "iban": 0, "files": 1}
    assert _row(folders, "folder", f"{root}/people/hr")["iban"] == 1
    assert list(dashboard.by_folder(depth=1)["folder"])[1:] == [f"{root}/finance", f"{root}/mail",
                                                                 f"{root}/people"]


def test_choosing_folders_drills_down_to_files_and_up_comes_back(dashboard: FindingsDashboard,
                                                                 src: Path) -> None:
    root = str(src)
    dashboard.folder_picker.value = f"{root}/people"
    assert dashboard.folder == f"{root}/people" and not dashboard.up_button.disabled
    assert dict(dashboard.folder_picker.options) == {".  (1 file)": f"{root}/people",
                                                     "hr  (1 file)": f"{root}/people/hr"}
    files = dashboard.files_table.html.value
    assert f"{root}/people/contacts.txt" in files and f"{root}/people/hr/pay.txt" in files
    assert f"{root}/mail" not in files and "clean.txt" not in files

    dashboard.category_picker.value = "iban"
    files = dashboard.files_table.html.value
    assert "pay.txt" in files and "contacts.txt" not in files
    assert IBAN not in files and "DE***" in files  # samples are masked
    assert dashboard.files_table.label.value == "rows 1–1 of 1"

    dashboard.folder_picker.value = f"{root}/people/hr"
    assert dashboard.folder == f"{root}/people/hr"
    assert dashboard.category_picker.value == "iban"  # the category stays picked while it is there
    dashboard.up_button.click()
    dashboard.up_button.click()
    assert dashboard.folder == root and dashboard.up_button.disabled
    dashboard.up_button.click()  # not above the snapshot's root
    assert dashboard.folder == root


def test_files_are_sent_a_page_at_a_time(dashboard: FindingsDashboard, src: Path) -> None:
    dashboard.open_folder(f"{src}/mail/")
    assert dashboard.folder == f"{src}/mail"
    assert dashboard.files_table.label.value == f"rows 1–50 of {MAILS}"
    assert dashboard.files_table.html.value.count("</tr>") == 51
    dashboard.files_table.next_button.click()
    assert dashboard.files_table.label.value == f"rows 51–{MAILS} of {MAILS}"
    files = dashboard.files(f"{src}/mail", "email")
    assert list(files.columns) == ["path", "category", "analyzer", "sample", "confidence", "count"]
    assert len(files) == MAILS and files["sample"].str.contains(r"\*\*\*@example\.com").all()
    assert dashboard.files(f"{src}/mail", "iban").empty


def test_picking_an_older_snapshot_and_bad_choices(dashboard: FindingsDashboard, store: kloset.Store,
                                                   src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = store.snapshots()[0]
    dashboard.picker.value = old.id
    assert dashboard.snapshot_id == old.id and dashboard.folder == str(src)
    assert _row(dashboard.by_folder(), "folder", f"{src}/finance")["iban"] == 1
    assert f"{src}/finance/2024/q2" not in dashboard.files(f"{src}/finance").to_string()

    dashboard.select_snapshot("ffffffffz")
    assert "Not found" in dashboard.message.value and dashboard.snapshot_id == old.id
    dashboard.open_folder("/somewhere/else")
    assert "not inside the snapshot" in dashboard.message.value and dashboard.folder == str(src)
    dashboard.select_snapshot("latest")
    assert dashboard.message.value == "" and dashboard.snapshot_id == store.snapshot().id
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


def test_a_store_without_findings_says_how_to_get_them(base: Path, src: Path) -> None:
    empty = kloset.create(str(base / "empty"), plaintext=True)
    try:
        assert NO_FINDINGS in FindingsDashboard(empty).message.value  # no snapshot at all
        empty.backup(str(src / "people"))
        dashboard = FindingsDashboard(empty)
        assert NO_FINDINGS in dashboard.message.value
        assert dashboard.by_snapshot()["files"].tolist() == [0]
        assert dashboard.snapshot_id is None and dashboard.files_table.html.value == ""
    finally:
        empty.close()


def test_a_damaged_index_is_a_message_in_the_dashboard_and_the_explorer(
        tmp_path: Path, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kloset.testing.damage import damage_blob
    from kloset.viewers.widgets import SQLExplorer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(str(src), analyze=["gdpr"])
    damage_blob(store, snap.header.tables["files"][0].id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cold-cache"))  # no local copy of the piece
    damaged = kloset.open(str(tmp_path / "store"))
    board = FindingsDashboard(damaged)
    assert "Damaged data" in board.message.value and snap.short_id in board.message.value
    explorer = SQLExplorer(damaged, "SELECT count(*) FROM files")
    explorer.run_button.click()
    assert "Damaged data" in explorer.message.value and explorer.result is None
