"""Backup then restore: every kind of entry comes back byte for byte, with its mode, mtime and xattrs;
and the snapshot can be read in place (index as a DataFrame, file content as a seekable stream)."""

from __future__ import annotations

import io
import os
import random
import stat
from pathlib import Path

import pandas as pd
import pytest

import kloset
from kloset.snapshot.index import FILES_SCHEMA

from .trees import BAD_NAME, LOOKALIKE_NAME, MiB, RichTree, assert_same_tree, hardlink_groups, manifest


def test_rich_tree_restores_byte_for_byte_with_modes_times_links_and_xattrs(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    report = snap.restore(tmp_path / "out")

    assert report.errors == []
    assert_same_tree(rich_tree.root, tmp_path / "out")
    if rich_tree.xattrs:
        restored = manifest(tmp_path / "out")
        assert restored[b"hello.txt"].xattrs == (("user.comment", b"greeting"),)
        assert restored[b"nested"].xattrs == (("user.kind", b"\x00binary\xff"),)


def test_summary_and_restore_report_count_every_kind_of_entry(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    want = manifest(rich_tree.root)
    kinds = [e.type for e in want.values()]
    snap = store.backup(str(rich_tree.root))

    s = snap.summary
    assert (s.files, s.dirs, s.symlinks, s.others, s.errors) == (
        kinds.count("file"), kinds.count("dir") + 1, kinds.count("symlink"), kinds.count("fifo"), 0)
    assert s.size == sum(e.size for e in want.values())
    assert s.reused_files == 0
    report = snap.restore(tmp_path / "out")
    assert (report.files, report.dirs, report.symlinks, report.others) == (
        kinds.count("file"), kinds.count("dir"), kinds.count("symlink"), kinds.count("fifo"))
    assert report.bytes == s.size - want[b"hard/two"].size  # a hard link's second name writes nothing


def test_hard_links_restore_as_one_inode(store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    store.backup(str(rich_tree.root)).restore(tmp_path / "out")

    assert hardlink_groups(tmp_path / "out") == {frozenset({b"hard/one", b"hard/two"})}
    assert os.stat(tmp_path / "out" / "hard" / "one").st_nlink == 2


def test_sparse_file_restores_with_its_content_and_holes(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    store.backup(str(rich_tree.root)).restore(tmp_path / "out")

    src, out = rich_tree.notes["sparse"], tmp_path / "out" / "sparse.img"
    assert out.read_bytes() == src.read_bytes()
    st = out.stat()
    assert st.st_size == 6 * MiB
    assert st.st_blocks * 512 < MiB, "the 6 MiB file of zeros around 4 KiB of data came back dense"


def test_names_that_are_not_utf8_keep_their_bytes_and_stay_distinct_from_look_alikes(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    names = os.fsdecode(os.path.join(os.fsencode(rich_tree.root), b"names"))
    bad = os.fsdecode(os.path.join(os.fsencode(names), BAD_NAME))

    assert snap.read_bytes(bad) == b"bytes name\n"
    assert snap.read_bytes(f"{names}/{LOOKALIKE_NAME}") == b"look-alike name\n"
    assert snap.read_text(f"{names}/new\nline.txt") == "a newline in the name\n"
    files = snap.files(["path", "raw_path"])
    raw = files[files["raw_path"].notna()]
    assert sorted(raw["raw_path"]) == sorted([
        os.fsencode(bad), os.path.join(os.fsencode(names), b"dir-\xe9"),
        os.path.join(os.fsencode(names), b"dir-\xe9", b"inner.txt")])
    # the look-alike and the bytes name share a display path, never a row
    assert (files["path"] == f"{names}/{LOOKALIKE_NAME}").sum() == 2
    snap.restore(tmp_path / "out")
    out = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path / "out"), b"names")))
    assert (out / os.fsdecode(BAD_NAME)).read_bytes() == b"bytes name\n"
    assert (out / LOOKALIKE_NAME).read_bytes() == b"look-alike name\n"
    assert (out / os.fsdecode(b"dir-\xe9") / "inner.txt").read_bytes() == b"inside a bytes-named dir\n"


def test_files_frame_has_one_row_per_entry_with_the_index_columns(
        store: kloset.Store, rich_tree: RichTree) -> None:
    snap = store.backup(str(rich_tree.root))
    df = snap.files()

    assert list(df.columns) == FILES_SCHEMA.names
    assert len(df) == len(manifest(rich_tree.root)) + 1  # the root itself is a row
    assert df["path"].iloc[0] == str(rich_tree.root)
    assert pd.api.types.is_string_dtype(df["path"])
    assert pd.api.types.is_integer_dtype(df["size"]) and pd.api.types.is_integer_dtype(df["mode"])
    assert isinstance(df["mtime"].dtype, pd.DatetimeTZDtype) and str(df["mtime"].dt.tz) == "UTC"
    assert set(df["type"]) == {"dir", "file", "symlink", "fifo"}
    big = df.set_index("path").loc[f"{rich_tree.root}/big.bin"]
    assert big["size"] == len(rich_tree.big)
    assert big["chunks"] > 1
    assert isinstance(big["object_id"], str) and len(big["object_id"]) == 64
    assert big["mtime"] == pd.Timestamp(os.stat(rich_tree.root / "big.bin").st_mtime_ns, tz="UTC")
    link = df.set_index("path").loc[f"{rich_tree.root}/links/relative"]
    assert (link["type"], link["target"]) == ("symlink", "../hello.txt")
    assert df.loc[df["type"] != "file", "object_id"].isna().all()
    only = snap.files(["path", "size"])
    assert list(only.columns) == ["path", "size"]


def test_open_reads_any_range_of_a_multi_chunk_file(store: kloset.Store, rich_tree: RichTree) -> None:
    snap = store.backup(str(rich_tree.root))
    data = rich_tree.big
    rnd = random.Random(7)

    with snap.open(f"{rich_tree.root}/big.bin") as f:
        assert f.size == len(data)
        assert f.readable() and f.seekable()
        buffered = io.BufferedReader(f)  # a raw stream may read short; a buffered one reads exactly
        for _ in range(40):
            pos, n = rnd.randrange(len(data)), rnd.randrange(1, 2 * MiB)
            buffered.seek(pos)
            assert buffered.read(n) == data[pos : pos + n]
        assert buffered.seek(-10, io.SEEK_END) == len(data) - 10
        assert buffered.read() == data[-10:]
        assert buffered.read() == b""
    with snap.open(f"{rich_tree.root}/big.bin") as f:
        f.seek(MiB + 3)
        assert f.readall() == data[MiB + 3 :]


def test_read_text_bytes_and_stat(store: kloset.Store, rich_tree: RichTree) -> None:
    snap = store.backup(str(rich_tree.root))

    assert snap.read_text(f"{rich_tree.root}/hello.txt") == "hello, world\n"
    assert snap.read_bytes(f"{rich_tree.root}/empty.txt") == b""
    assert snap.read_bytes(f"{rich_tree.root}/big.bin") == rich_tree.big
    row = snap.stat(f"{rich_tree.root}/hello.txt")
    assert row["type"] == "file" and stat.S_IMODE(row["mode"]) == 0o640 and row["size"] == 13


@pytest.mark.parametrize("rel", ["nested", "links/relative", "special/fifo", "no/such/file"])
def test_open_of_anything_but_a_file_is_not_found(store: kloset.Store, rich_tree: RichTree, rel: str) -> None:
    snap = store.backup(str(rich_tree.root))

    with pytest.raises(kloset.NotFound):
        snap.open(f"{rich_tree.root}/{rel}")


def test_empty_directory_backs_up_and_restores(store: kloset.Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    snap = store.backup(str(tmp_path / "empty"))

    assert (snap.summary.files, snap.summary.dirs) == (0, 1)
    snap.restore(tmp_path / "out")
    assert os.listdir(tmp_path / "out") == []


def test_a_snapshot_of_a_single_file_restores_that_file(store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("a single file\n")
    snap = store.backup(str(src))
    assert snap.read_text(str(src)) == "a single file\n"

    report = snap.restore(tmp_path / "out")

    assert report.files == 1
    assert (tmp_path / "out" / "notes.txt").read_text() == "a single file\n"


def test_excluded_paths_are_not_backed_up(store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "build").mkdir(parents=True)
    (src / "build" / "out.o").write_bytes(b"\0")
    (src / "keep.txt").write_text("keep\n")
    (src / "debug.log").write_text("noise\n")

    snap = kloset.backup(str(src), store=store, exclude=["*.log", "build/"], progress=False)

    assert sorted(snap.files(["path"])["path"]) == [str(src), f"{src}/keep.txt"]
