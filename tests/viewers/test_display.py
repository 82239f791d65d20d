"""The notebook displays of a store, a snapshot and an entry, as ``_repr_html_`` gives them."""

from __future__ import annotations

import html
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset
from kloset.testing.damage import damage_blob
from kloset.viewers.widgets import display

PII = "Write to jane.doe@example.com, IBAN DE89370400440532013000.\n"


def _png(width: int, height: int) -> bytes:
    """A grey PNG image, made by the book (signature, IHDR, IDAT, IEND), over a KiB in size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + os.urandom(width) for _ in range(height))  # filter 0, noise: it stays large
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "pii.txt").write_text(PII)
    (root / "notes.txt").write_text("plain words\n" * 200)
    (root / "plot.png").write_bytes(_png(40, 40))
    (root / "<b>&amp.txt").write_text("odd name\n")
    os.symlink("notes.txt", root / "link")
    return root


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[kloset.Store]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no test reads another's cache
    s = kloset.create(str(tmp_path / "store"), plaintext=True)
    yield s
    s.close()


def test_a_store_shows_its_sizes_ratio_and_snapshots_newest_first(store: kloset.Store, src: Path) -> None:
    first = store.backup(str(src), analyze=["gdpr", "email"])
    (src / "more.txt").write_text("more words\n" * 500)
    second = store.backup(str(src), tags=["daily", "<x>"])
    page = store._repr_html_()
    assert page is not None
    assert html.escape(str(store.location)) in page and "plaintext" in page
    logical = first.summary.size + second.summary.size
    stored = store.info()["size"]
    assert f'title="{logical:,} bytes"' in page and f'title="{stored:,} bytes"' in page
    assert f"{logical / stored:.2f}×" in page
    assert page.index(second.short_id) < page.index(first.short_id)  # newest first
    assert f'title="{first.id}"' in page
    assert f"<td>{second.summary.files:,}</td>" in page and f"<td>{first.summary.files:,}</td>" in page
    assert "daily, &lt;x&gt;" in page and "<x>" not in page
    assert "not shown" not in page


def test_a_store_lists_its_latest_twenty_snapshots_and_says_how_many_more(store: kloset.Store, src: Path) -> None:
    snaps = [store.backup(str(src)) for _ in range(display.LATEST_ROWS + 3)]
    page = store._repr_html_()
    assert page is not None
    assert page.count("<tr><td><code") == 20
    assert "3 older snapshots not shown" in page
    assert all(s.short_id in page for s in snaps[3:]) and not any(s.short_id in page for s in snaps[:3])


def test_an_empty_store_still_shows(store: kloset.Store, tmp_path: Path) -> None:
    page = store._repr_html_()
    assert page is not None
    assert "No snapshot yet" in page and "<td>0</td>" in page and 'title="0 bytes"' in page
    encrypted = kloset.create(str(tmp_path / "enc"), passphrase="correct horse")
    assert "<td>encrypted</td>" in (encrypted._repr_html_() or "")


def test_a_snapshot_shows_its_header_summary_and_data_classes(store: kloset.Store, src: Path) -> None:
    snap = store.backup(str(src), analyze=["gdpr", "email"], tags=["t1"], name="laptop", job="nightly")
    page = snap._repr_html_()
    assert page is not None
    s = snap.summary
    assert snap.id in page and f"fs:{src}" in page and "<td>t1</td>" in page
    assert "<th>name</th><td>laptop</td>" in page and "<th>job</th><td>nightly</td>" in page
    assert "<th>category</th>" not in page  # labels not given are left out
    assert f"<th>files</th><td>{s.files}</td>" in page and s.files == 4
    assert "<th>symlinks</th><td>1</td>" in page and "<th>dirs</th><td>2</td>" in page
    assert f'title="{s.size:,} bytes"' in page and f'title="{s.stored:,} bytes"' in page
    assert "<td>email</td><td>1</td>" in page and "<td>iban</td><td>1</td>" in page
    assert "gdpr" in page and "not analyzed" not in page

    plain = store.backup(str(src))
    page = plain._repr_html_() or ""
    assert "not analyzed" in page and "<td>iban</td>" not in page


def test_a_snapshot_with_a_damaged_index_piece_says_so_in_its_display(
        store: kloset.Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = store.backup(str(src), analyze=["gdpr"])
    damage_blob(store, snap.header.tables["files"][0].id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cold-cache"))  # no local copy of the piece
    reopened = kloset.open(str(tmp_path / "store"))
    page = reopened.snapshot(snap.id)._repr_html_()
    assert page is not None
    assert "Damaged data" in page and "kloset-notice" in page
    assert snap.id in page and f"<th>files</th><td>{snap.summary.files}</td>" in page


def test_a_missing_packfile_and_a_damaged_header_leave_the_displays_standing(
        store: kloset.Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = store.backup(str(src), analyze=["gdpr"])
    (src / "new.txt").write_text("new\n")
    new = store.backup(str(src))
    damage_blob(store, new.header.id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cold-cache"))
    reopened = kloset.open(str(tmp_path / "store"))
    page = reopened._repr_html_() or ""
    assert "1 more unreadable" in page and old.short_id in page and new.short_id not in page

    kept = reopened.snapshot(old.id)
    _, pack_id, *_ = reopened._repo.index.locate(old.header.tables["files"][0].id)
    (tmp_path / "store" / "packfiles" / pack_id.hex()[:2] / pack_id.hex()).unlink()
    page = kept._repr_html_() or ""
    assert f"packfile {pack_id.hex()[:16]} is missing" in page and "kloset-notice" in page and old.id in page


def test_an_entry_shows_its_metadata_escaped(store: kloset.Store, src: Path) -> None:
    snap = store.backup(str(src))
    png = snap.entry(str(src / "plot.png"))
    page = png._repr_html_()
    assert page is not None
    st = os.lstat(src / "plot.png")
    assert f"<code>{src}/plot.png</code>" in page and "<td>file</td>" in page
    assert f'title="{st.st_size:,} bytes"' in page and st.st_size > 1024 and "KiB</span>" in page
    assert f"<code>{stat.filemode(st.st_mode)}</code>" in page
    assert "<td>image/png</td>" in page and png.object_id is not None
    assert f">{png.object_id[:16]}</code>" in page and "<th>target</th>" not in page

    link = (snap.entry(str(src / "link"))._repr_html_() or "")
    assert "<th>target</th><td><code>notes.txt</code>" in link and "<code>lrwxrwxrwx</code>" in link

    odd = snap.entry(str(src / "<b>&amp.txt"))._repr_html_() or ""
    assert "&lt;b&gt;&amp;amp.txt" in odd and "<b>&amp.txt" not in odd
