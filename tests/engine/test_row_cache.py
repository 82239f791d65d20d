"""The local cache of the latest snapshot's rows: what it holds, that a re-backup uses it, that damage to
it only costs speed, and the invariant it rests on (rows read back from a piece equal the rows written)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kloset
from kloset.objects import BlobType
from kloset.repository.repo import Repository
from kloset.snapshot import index as index_module
from kloset.snapshot.index import FILES_SCHEMA, decode_piece, encode_piece, pylist_columns

from .trees import RichTree


def cache_files(home: Path) -> dict[str, Path]:
    return {p.name: p for p in (home / "cache").glob("kloset/*/rows/*/*")}


def all_pieces(snap: kloset.Snapshot) -> set[str]:
    return {p.id.hex() for pieces in snap.header.tables.values() for p in pieces}


def count_files_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return count_table_reads(monkeypatch, (BlobType.FILES,))


def count_table_reads(monkeypatch: pytest.MonkeyPatch,
                      types: tuple[BlobType, ...] = (BlobType.FILES, BlobType.CHUNKS, BlobType.XATTRS)) -> list[bytes]:
    reads: list[bytes] = []
    real = Repository.get_blob

    def get_blob(self: Repository, blob_type: BlobType, blob_id: bytes) -> bytes:
        if blob_type in types:
            reads.append(blob_id)
        return real(self, blob_type, blob_id)

    monkeypatch.setattr(Repository, "get_blob", get_blob)
    return reads


def test_the_cache_holds_the_pieces_of_the_latest_snapshot_only(
        store: kloset.Store, rich_tree: RichTree, isolated_env: Path) -> None:
    first = store.backup(str(rich_tree.root))
    assert {"files", "chunks", "xattrs"} <= {t for t, pieces in first.header.tables.items() if pieces}
    assert set(cache_files(isolated_env)) == all_pieces(first)

    (rich_tree.root / "added.txt").write_text("new\n")
    second = store.backup(str(rich_tree.root))
    assert set(cache_files(isolated_env)) == all_pieces(second)


def test_an_unchanged_rebackup_takes_the_parent_rows_from_the_cache(
        store: kloset.Store, rich_tree: RichTree, monkeypatch: pytest.MonkeyPatch) -> None:
    first = store.backup(str(rich_tree.root))
    reads = count_table_reads(monkeypatch)
    encoded: list[Any] = []
    real_encode = index_module.encode_piece

    def encode_piece_counted(schema: Any, columns: dict[str, list[Any]]) -> bytes:
        encoded.append(schema)
        return real_encode(schema, columns)

    monkeypatch.setattr(index_module, "encode_piece", encode_piece_counted)

    second = store.backup(str(rich_tree.root))

    assert reads == [] and encoded == []  # no table piece read back, none encoded again
    assert second.summary.reused_files == first.summary.files
    assert second.header.tables == first.header.tables


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_cache_entry_is_ignored_and_the_piece_read_from_the_store(
        store: kloset.Store, rich_tree: RichTree, isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
        damage: str) -> None:
    first = store.backup(str(rich_tree.root))
    for path in cache_files(isolated_env).values():
        data = bytearray(path.read_bytes())
        if damage == "flip":
            data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data[: len(data) // 2]) if damage == "truncate" else
                         b"" if damage == "empty" else bytes(data))
    reads = count_files_reads(monkeypatch)

    second = store.backup(str(rich_tree.root))

    assert sorted(reads) == sorted(p.id for p in first.header.tables["files"])
    assert second.summary.reused_files == first.summary.files
    assert [p.id for p in second.header.tables["files"]] == [p.id for p in first.header.tables["files"]]
    assert store.check().ok
    # ...and the entries are written anew for the next backup.
    reads.clear()
    store.backup(str(rich_tree.root))
    assert reads == []


def test_a_cache_entry_sealed_for_another_piece_is_refused(
        store: kloset.Store, rich_tree: RichTree, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (rich_tree.root / "more").mkdir()
    for i in range(3000):  # enough rows for several pieces
        (rich_tree.root / "more" / f"f{i:05}").write_bytes(b"")
    first = store.backup(str(rich_tree.root))
    file_pieces = {p.id.hex() for p in first.header.tables["files"]}
    files = {name: path for name, path in cache_files(isolated_env).items() if name in file_pieces}
    assert len(files) >= 2
    a, b = sorted(files)[:2]
    files[a].write_bytes(files[b].read_bytes())  # a genuine entry, under another piece's name
    reads = count_files_reads(monkeypatch)

    second = store.backup(str(rich_tree.root))

    assert reads == [bytes.fromhex(a)]
    assert [p.id for p in second.header.tables["files"]] == [p.id for p in first.header.tables["files"]]


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


_text = st.text(max_size=12)
_row = st.tuples(
    _text, st.none() | st.binary(max_size=8), st.sampled_from(["file", "dir", "symlink"]),
    st.integers(0, 2**32 - 1), st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1), _text, _text,
    st.integers(0, 2**63 - 1), st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1),
    _text, st.none() | st.binary(min_size=32, max_size=32), _text,
    st.none() | st.floats(0, 8, width=32).map(_f32), st.integers(0, 2**31 - 1),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=20))
def test_rows_read_back_from_a_piece_equal_the_rows_written(rows: list[tuple[Any, ...]]) -> None:
    """The cache keeps the rows as written and the next backup compares them with new rows to reuse the
    piece: that is only sound if a piece decodes to exactly the rows it was encoded from."""
    columns = dict(zip(FILES_SCHEMA.names, map(list, zip(*rows, strict=True)), strict=True))
    back = pylist_columns(decode_piece(encode_piece(FILES_SCHEMA, columns)))
    assert list(zip(*back.values(), strict=True)) == rows
