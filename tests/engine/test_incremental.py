"""Deduplication and incremental backups: what a second backup reads and stores, what a diff shows, and
what happens to files that change, vanish or cannot be read while a backup runs."""

from __future__ import annotations

import bisect
import errno
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

import kloset
from kloset import Record
from kloset.objects import BlobType
from kloset.snapshot.order import path_key

from .importers import HookedImporter
from .trees import MiB, RichTree, build_many_files


def counting_opens(opened: list[str]) -> Callable[[Record], Record]:
    def hook(rec: Record) -> Record:
        if rec.open is not None:
            real = rec.open

            def counted() -> BinaryIO:
                opened.append(rec.pathname)
                return real()

            rec.open = counted
        return rec

    return hook


def test_second_backup_of_an_unchanged_tree_stores_almost_nothing(
        store: kloset.Store, rich_tree: RichTree) -> None:
    first = store.backup(str(rich_tree.root))
    size_after_first = store.storage.size()

    second = store.backup(str(rich_tree.root))

    assert first.summary.stored > len(rich_tree.big)
    assert second.summary.reused_files == second.summary.files == first.summary.files
    assert second.summary.new_chunks == 0
    assert second.summary.stored < 1024
    assert store.storage.size() - size_after_first < size_after_first / 100
    assert [p.id for p in second.header.tables["files"]] == [p.id for p in first.header.tables["files"]]
    assert second.header.parent == first.header.id


def test_an_unchanged_tree_is_not_read_again(store: kloset.Store, rich_tree: RichTree) -> None:
    store.backup(str(rich_tree.root))
    opened: list[str] = []

    snap = store.backup(HookedImporter(rich_tree.root, counting_opens(opened)))

    assert opened == []
    assert snap.read_bytes(f"{rich_tree.root}/big.bin") == rich_tree.big


def test_changing_one_file_rereads_only_that_file(store: kloset.Store, rich_tree: RichTree) -> None:
    first = store.backup(str(rich_tree.root))
    target = rich_tree.root / "nested" / "a" / "b" / "c" / "deep.txt"
    target.write_text("changed\n")
    opened: list[str] = []

    snap = store.backup(HookedImporter(rich_tree.root, counting_opens(opened)))

    assert opened == [str(target)]
    assert snap.summary.reused_files == first.summary.files - 1
    assert snap.read_text(str(target)) == "changed\n"
    assert first.read_text(str(target)) == "deep\n" * 100


def test_content_already_in_the_store_is_not_stored_again(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    store.backup(str(rich_tree.root))
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(rich_tree.root / "big.bin", other / "copy-of-big.bin")
    (other / "copy-again.bin").write_bytes(rich_tree.big)

    snap = store.backup(str(other))

    assert snap.summary.reused_files == 0  # another source: no parent, every file is read...
    assert snap.summary.new_chunks < 5  # ...but only the index and header are new
    assert snap.summary.stored < 16 * 1024
    ids = set(snap.files(["object_id"])["object_id"].dropna())
    assert len(ids) == 1


def test_a_backup_without_its_parent_reads_every_file(store: kloset.Store, rich_tree: RichTree) -> None:
    store.backup(str(rich_tree.root))
    opened: list[str] = []

    snap = store.backup(HookedImporter(rich_tree.root, counting_opens(opened)), parent=False)

    assert snap.summary.reused_files == 0
    assert snap.header.parent == b""
    assert len(opened) == snap.summary.files - 1  # every name of every file but the empty one
    assert snap.summary.new_chunks == 0


def test_the_parent_is_the_latest_snapshot_of_the_same_source(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    first = store.backup(str(rich_tree.root))
    store.backup(str(tmp_path / "elsewhere"))
    second = store.backup(str(rich_tree.root))

    third = store.backup(str(rich_tree.root))

    assert second.header.parent == first.header.id
    assert third.header.parent == second.header.id


def test_extended_attributes_follow_changes_and_carry_over(store: kloset.Store, rich_tree: RichTree) -> None:
    if not rich_tree.xattrs:
        pytest.skip("the temporary file system refuses user.* extended attributes")
    store.backup(str(rich_tree.root))
    os.setxattr(rich_tree.root / "script.sh", "user.added", b"later")  # changes the file's ctime

    snap = store.backup(str(rich_tree.root))

    got = {(r["path"].rsplit("/", 1)[-1], r["name"], r["value"]) for r in snap.table("xattrs").to_pylist()}
    assert got == {("hello.txt", "user.comment", b"greeting"), ("nested", "user.kind", b"\x00binary\xff"),
                   ("script.sh", "user.added", b"later")}


def test_changing_one_percent_of_a_large_tree_rewrites_only_the_index_pieces_covering_it(
        store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = build_many_files(src, dirs=10, per_dir=500)
    first = store.backup(str(src))
    changed = [p for p in files if p.parent.name == "d03"][::10]  # 50 files, 1% of the tree
    for p in changed:
        p.write_text(p.read_text().upper())

    second = store.backup(str(src))

    assert second.summary.reused_files == len(files) - len(changed)
    old = {p.id for p in first.header.tables["files"]}
    pieces = second.header.tables["files"]
    rewritten = {i for i, p in enumerate(pieces) if p.id not in old}
    # Exactly the pieces holding a changed row are new; every other piece is the first backup's blob.
    starts = [p.first for p in pieces]
    holding = {bisect.bisect_right(starts, path_key(str(p))) - 1 for p in changed}
    assert rewritten == holding
    # and nothing else is stored: one blob per changed file's content, one per rewritten piece
    assert second.summary.new_chunks == len(changed) + len(rewritten)


def test_diff_lists_added_removed_and_modified_paths(store: kloset.Store, rich_tree: RichTree) -> None:
    root = rich_tree.root
    before = store.backup(str(root))
    (root / "hello.txt").write_text("hello, changed world\n")
    (root / "added.txt").write_text("new\n")
    (root / "empty.txt").unlink()
    (root / "script.sh").chmod(0o700)

    after = store.backup(str(root))
    d = before.diff(after).set_index("path")

    assert sorted(d.index) == sorted(f"{root}/{n}" for n in ("added.txt", "empty.txt", "hello.txt", "script.sh"))
    assert d.loc[f"{root}/added.txt", "change"] == "added"
    assert d.loc[f"{root}/added.txt", "size_after"] == 4
    assert d.loc[f"{root}/empty.txt", "change"] == "removed"
    hello = d.loc[f"{root}/hello.txt"]
    assert hello["change"] == "modified"
    assert {"size", "mtime", "object_id"} <= set(hello["fields"].split(","))
    assert (hello["size_before"], hello["size_after"]) == (13, 21)
    assert d.loc[f"{root}/script.sh", "fields"] == "mode"
    assert before.diff(before).empty
    assert [c.path for c in store.diff(before, after)] == sorted(d.index, key=path_key)


# -- files that change or fail while a backup reads them ----------------------------------------------


class ReadFailure(io.RawIOBase):
    """A stream that gives some bytes, then fails like a disk would."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        n = self._data.readinto(b)
        if not n:
            raise OSError(errno.EIO, "Input/output error")
        return n


@pytest.mark.parametrize("size", [10_000, 3 * MiB], ids=["small", "multi-chunk"])
@pytest.mark.parametrize("delta", [+12_345, -5_000], ids=["grows", "shrinks"])
def test_a_file_that_changes_while_read_is_kept_as_read_and_noted(
        store: kloset.Store, tmp_path: Path, size: int, delta: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    target = src / "log.bin"
    original = os.urandom(size)
    target.write_bytes(original)
    (src / "other.txt").write_text("untouched\n")
    read_back = original + os.urandom(delta) if delta > 0 else original[:delta]

    def hook(rec: Record) -> Record:
        if rec.pathname == str(target):
            real = rec.open
            assert real is not None

            def changing() -> BinaryIO:
                target.write_bytes(read_back)  # after the stat, before the read
                return real()

            rec.open = changing
        return rec

    snap = store.backup(HookedImporter(src, hook))

    assert snap.read_bytes(str(target)) == read_back
    assert snap.stat(str(target))["size"] == len(read_back)
    errors = snap.errors()
    assert list(errors["path"]) == [str(target)]
    assert "changed while being read" in errors["error"].iloc[0]
    assert snap.summary.errors == 1
    snap.restore(tmp_path / "out")
    assert (tmp_path / "out" / "log.bin").read_bytes() == read_back
    assert (tmp_path / "out" / "other.txt").read_text() == "untouched\n"
    # the next backup reads it again rather than trusting the row of a file caught changing
    again = store.backup(str(src))
    assert again.read_bytes(str(target)) == read_back
    assert again.summary.errors == 0


def test_a_stream_longer_than_its_stat_size_is_recorded_whole(store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"short")
    longer = os.urandom(700_000)

    def hook(rec: Record) -> Record:
        if rec.pathname.endswith("/f"):
            rec.open = lambda: io.BytesIO(longer)
        return rec

    snap = store.backup(HookedImporter(src, hook))

    assert snap.read_bytes(f"{src}/f") == longer
    assert "changed while being read (5 -> 700000 bytes)" in snap.errors()["error"].iloc[0]


def failing_open(exc: OSError, name: str) -> Callable[[Record], Record]:
    def hook(rec: Record) -> Record:
        if rec.pathname.endswith("/" + name):
            def refuse() -> BinaryIO:
                raise exc

            rec.open = refuse
        return rec

    return hook


@pytest.mark.parametrize("exc, words", [
    (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), "No such file"),
], ids=["unreadable", "vanished-before-open"])
def test_a_file_that_cannot_be_opened_is_an_error_of_that_file_only(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path, exc: OSError, words: str) -> None:
    snap = store.backup(HookedImporter(rich_tree.root, failing_open(exc, "hello.txt")))

    errors = snap.errors()
    assert list(errors["path"]) == [f"{rich_tree.root}/hello.txt"]
    assert words in errors["error"].iloc[0]
    assert snap.summary.errors == 1
    assert f"{rich_tree.root}/hello.txt" not in set(snap.files(["path"])["path"])
    assert snap.read_bytes(f"{rich_tree.root}/big.bin") == rich_tree.big
    report = snap.restore(tmp_path / "out")
    assert report.errors == []
    assert not (tmp_path / "out" / "hello.txt").exists()
    assert (tmp_path / "out" / "script.sh").exists()
    # once readable again, the next backup (whose parent lacks the file) reads it
    again = store.backup(str(rich_tree.root))
    assert again.read_text(f"{rich_tree.root}/hello.txt") == "hello, world\n"


def test_a_read_error_midway_is_an_error_of_that_file_only(store: kloset.Store, rich_tree: RichTree) -> None:
    def hook(rec: Record) -> Record:
        if rec.pathname.endswith("/big.bin"):
            rec.open = lambda: ReadFailure(b"x" * 100_000)  # type: ignore[assignment, return-value]
        return rec

    snap = store.backup(HookedImporter(rich_tree.root, hook))

    assert list(snap.errors()["path"]) == [f"{rich_tree.root}/big.bin"]
    assert "Input/output error" in snap.errors()["error"].iloc[0]
    with pytest.raises(kloset.NotFound):
        snap.open(f"{rich_tree.root}/big.bin")


def test_a_file_that_vanishes_before_its_stat_is_an_error_not_a_failure(
        store: kloset.Store, rich_tree: RichTree) -> None:
    victim = rich_tree.root / "nested" / "readonly.txt"

    def hook(rec: Record) -> Record:
        if rec.pathname == str(rich_tree.root / "nested"):
            victim.unlink()  # the directory is listed; its entries are stat'ed after this record
        return rec

    snap = store.backup(HookedImporter(rich_tree.root, hook))

    errors = snap.errors()
    assert list(errors["path"]) == [str(victim)]
    assert "vanished" in errors["error"].iloc[0]
    assert snap.read_text(f"{rich_tree.root}/nested/a/b/c/deep.txt") == "deep\n" * 100


def test_records_without_metadata_are_errors(store: kloset.Store, rich_tree: RichTree) -> None:
    def hook(rec: Record) -> Record:
        if rec.pathname.endswith("/script.sh"):
            return Record(pathname=rec.pathname)
        if rec.pathname.endswith("/hello.txt"):
            return Record(pathname=rec.pathname, error="the source said no")
        return rec

    snap = store.backup(HookedImporter(rich_tree.root, hook))

    errors = snap.errors().set_index("path")["error"].to_dict()
    assert errors == {f"{rich_tree.root}/hello.txt": "the source said no",
                      f"{rich_tree.root}/script.sh": "no metadata"}


def test_errors_table_pieces_are_errors_blobs(store: kloset.Store, rich_tree: RichTree) -> None:
    snap = store.backup(HookedImporter(rich_tree.root, failing_open(PermissionError(13, "denied"), "big.bin")))

    pieces = snap.header.tables["errors"]
    assert len(pieces) == 1 and pieces[0].rows == 1
    assert store._repo.index.locate(pieces[0].id)[0] == BlobType.ERRORS
