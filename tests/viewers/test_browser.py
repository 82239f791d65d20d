"""The snapshot browser widget, driven as a notebook user drives it: clicks, selections, restore."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset
from kloset.testing.damage import damage_blob
from kloset.viewers.widgets import SnapshotBrowser
from kloset.viewers.widgets.preview import IMAGE_BYTES, TEXT_BYTES


def _png() -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def src(isolated: Path) -> Path:
    root = isolated / "src"
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "many").mkdir()
    (root / "docs" / "note.txt").write_text("Dear Anna,\nthe IBAN is DE89370400440532013000.\n")
    (root / "docs" / "deep" / "inner.txt").write_text("inner\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary\xff" * 100)
    (root / "plot.png").write_bytes(_png())
    (root / "big.log").write_bytes(b"line of text\n" * (3 * TEXT_BYTES // 13))
    for i in range(450):
        (root / "many" / f"f{i:04}.txt").write_text(f"{i}\n")
    return root


@pytest.fixture
def store(isolated: Path, src: Path) -> Iterator[kloset.Store]:
    s = kloset.create(str(isolated / "store"), plaintext=True)
    s.backup(str(src), analyze=["gdpr"])
    yield s
    s.close()


def _button(browser: SnapshotBrowser, path: str) -> object:
    return browser._nodes[path].button


def test_it_opens_the_newest_snapshot_at_its_root(store: kloset.Store, src: Path) -> None:
    (src / "later.txt").write_text("later")
    newest = store.backup(str(src))
    b = SnapshotBrowser(store)
    assert b.picker.value == newest.id and len(b.picker.options) == 2
    assert b.shown(str(src)) == ["big.log", "blob.bin", "docs", "later.txt", "many", "plot.png"]
    assert "7 files" in b.summary.value or f"{newest.summary.files:,} files" in b.summary.value
    assert b.message.value == ""
    b.select_snapshot(store.snapshots()[0].short_id)  # the older one has no later.txt
    assert "later.txt" not in b.shown(str(src))


def test_folders_expand_by_click_a_page_at_a_time(store: kloset.Store, src: Path) -> None:
    b = SnapshotBrowser(store, page_size=200)
    many = str(src / "many")
    _button(b, many).click()  # type: ignore[attr-defined]
    assert b.shown(many) == [f"f{i:04}.txt" for i in range(200)]
    node = b._nodes[many]
    assert node.more is not None and node.kids.children[-1] is node.more
    node.more.click()
    node.more.click()
    assert b.shown(many) == [f"f{i:04}.txt" for i in range(450)] and node.more is None
    _button(b, many).click()  # type: ignore[attr-defined]
    assert b.shown(many) == []  # collapsed; opening again shows what was loaded without reading again
    b.expand(str(src / "docs" / "deep"))  # opens the folders above too
    assert b.shown(str(src / "docs")) == ["deep", "note.txt"] and b.shown(str(src / "docs" / "deep")) == ["inner.txt"]
    b.expand(many + "/f0449.txt")
    assert "not a folder" in b.message.value


def test_a_selected_file_shows_details_findings_and_a_fitting_preview(store: kloset.Store, src: Path) -> None:
    b = SnapshotBrowser(store)
    note = str(src / "docs" / "note.txt")
    b.select(note)
    assert b.selected == [note] and "note.txt" in b.details.value
    assert "iban" in b.findings.value.lower() and "DE89370400440532013000" not in b.findings.value  # masked
    assert b.preview.selected_index == 0 and "Dear Anna," in b.text_view.value

    b.select(str(src / "blob.bin"))
    assert b.preview.selected_index == 1 and "00 01 02 62 69 6e" in b.hex_view.value and "binary" in b.text_view.value
    assert "no findings" in b.findings.value

    b.select(str(src / "plot.png"))
    assert b.preview.selected_index == 2 and b.image_view.value == (src / "plot.png").read_bytes()

    b.select(str(src / "big.log"))  # a large file: its head only, and said so
    assert b.preview.selected_index == 0 and "first 64.0 KiB of" in b.text_view.value
    assert len(b.text_view.value) < TEXT_BYTES + 2000 and IMAGE_BYTES > TEXT_BYTES


def test_the_selection_restores_to_a_folder(store: kloset.Store, src: Path, tmp_path: Path) -> None:
    b = SnapshotBrowser(store)
    b.multi.value = True
    b.select(str(src / "docs"))
    b.select(str(src / "plot.png"))
    report = b.restore(tmp_path / "out")
    assert report is not None and not report.errors
    assert (tmp_path / "out" / "plot.png").read_bytes() == (src / "plot.png").read_bytes()
    assert (tmp_path / "out" / "deep" / "inner.txt").read_text() == "inner\n"  # a folder's content, by its root
    assert "restored 3 files" in b.status.value
    b.target.value = ""
    b.restore_button.click()
    assert "say which folder" in b.status.value


def test_bad_input_is_a_message_in_the_widget(store: kloset.Store, src: Path, isolated: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    b = SnapshotBrowser(store)
    b.select_snapshot("ffffffff")
    assert "Not found" in b.message.value and "ffffffff" in b.message.value
    b.select(str(src / "nope.txt"))
    assert "no such entry" in b.message.value
    empty = kloset.create(str(isolated / "empty"), plaintext=True)
    assert "no snapshot" in SnapshotBrowser(empty).message.value

    # Damage the index piece that lists the root's entries, with no local copy of it left.
    damage_blob(store, store.snapshot().header.tables["files"][0].id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated / "cold-cache"))
    damaged = SnapshotBrowser(kloset.open(str(isolated / "store")))
    assert "Damaged data" in damaged.message.value and damaged.shown(str(src)) == []


def test_a_damaged_file_shows_its_details_and_says_its_content_is_damaged(
        store: kloset.Store, src: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    oid = bytes.fromhex(store.snapshot().entry(str(src / "blob.bin")).object_id or "")
    path = damage_blob(store, oid)
    b = SnapshotBrowser(kloset.open(str(isolated / "store")))
    b.select(str(src / "blob.bin"))
    assert "blob.bin" in b.details.value and "Damaged data" in b.text_view.value
    assert b.message.value == ""
    assert os.path.exists(path)
