"""Restoring part of a snapshot, several times, and over what is already in the target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kloset

from .trees import RichTree, assert_same_tree, build_many_files, manifest


def test_restore_of_a_directory_writes_its_contents_relative_to_it(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))

    report = snap.restore(tmp_path / "out", f"{rich_tree.root}/nested")

    assert report.errors == []
    assert_same_tree(rich_tree.root / "nested", tmp_path / "out")


def test_restore_of_a_single_file_writes_it_by_its_name(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))

    report = snap.restore(tmp_path / "out", f"{rich_tree.root}/nested/a/b/c/deep.txt")

    assert (report.files, report.dirs) == (1, 0)
    assert os.listdir(tmp_path / "out") == ["deep.txt"]
    want = manifest(rich_tree.root / "nested" / "a" / "b" / "c")[b"deep.txt"]
    assert manifest(tmp_path / "out")[b"deep.txt"] == want


def test_restore_of_several_paths_writes_each_by_its_name(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))

    snap.restore(tmp_path / "out", [f"{rich_tree.root}/hello.txt", f"{rich_tree.root}/links/relative",
                                    f"{rich_tree.root}/hard"])

    assert sorted(os.listdir(tmp_path / "out")) == ["hello.txt", "one", "relative", "two"]
    assert os.readlink(tmp_path / "out" / "relative") == "../hello.txt"
    assert (tmp_path / "out" / "one").stat().st_ino == (tmp_path / "out" / "two").stat().st_ino


def test_restore_of_a_path_the_snapshot_lacks_is_not_found(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))

    with pytest.raises(kloset.NotFound):
        snap.restore(tmp_path / "out", f"{rich_tree.root}/no/such/thing")


def test_restoring_twice_into_one_target_gives_the_same_tree(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))

    snap.restore(tmp_path / "out")
    second = snap.restore(tmp_path / "out")

    assert second.errors == []
    assert_same_tree(rich_tree.root, tmp_path / "out")
    leftovers = [n for _, _, names in os.walk(tmp_path / "out") for n in names if n.startswith(".kloset-")]
    assert leftovers == []


def test_restore_replaces_entries_of_another_kind_in_the_target(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    out = tmp_path / "out"
    (out / "hello.txt").mkdir(parents=True)  # a dir where the snapshot has a file: not ours to delete
    os.symlink("/etc", out / "nested")  # a symlink where the snapshot has a directory
    (out / "links").mkdir()
    (out / "links" / "relative").write_text("a file where the snapshot has a link")
    (out / "big.bin").write_bytes(b"stale content")

    report = snap.restore(out)

    assert os.path.isdir(out / "nested") and not os.path.islink(out / "nested")
    assert os.readlink(out / "links" / "relative") == "../hello.txt"
    assert (out / "big.bin").read_bytes() == rich_tree.big
    assert not os.path.exists("/etc/a/b/c/deep.txt")
    # the directory in the way of hello.txt is reported, never silently removed
    assert [p for p, _ in report.errors] == [f"{rich_tree.root}/hello.txt"]


def test_restore_into_a_destination_location(store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))

    snap.restore(f"fs://{tmp_path}/out")

    assert_same_tree(rich_tree.root, tmp_path / "out")


def test_restore_reports_progress(store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    seen: list[tuple[int, int]] = []

    snap.restore(tmp_path / "out", progress=lambda n, b: seen.append((n, b)))

    assert seen and seen == sorted(seen)
    assert seen[-1][0] == snap.summary.files + snap.summary.dirs - 1  # the root is not counted


@pytest.mark.parametrize("spelling", ["{root}/nested/", "{root}//nested", "{root}/./nested", "{root}/links/../nested"])
def test_a_directory_path_restores_however_it_is_spelled(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path, spelling: str) -> None:
    snap = store.backup(str(rich_tree.root))

    snap.restore(tmp_path / "out", spelling.format(root=rich_tree.root))

    assert_same_tree(rich_tree.root / "nested", tmp_path / "out")


@pytest.mark.parametrize("spelling", ["{root}//hello.txt", "{root}/./hello.txt", "{root}/nested/../hello.txt"])
def test_a_file_path_restores_however_it_is_spelled(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path, spelling: str) -> None:
    snap = store.backup(str(rich_tree.root))

    report = snap.restore(tmp_path / "out", spelling.format(root=rich_tree.root))

    assert report.files == 1
    assert (tmp_path / "out" / "hello.txt").read_text() == "hello, world\n"


def test_a_restore_of_thousands_of_files_writes_them_all(store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_many_files(src, dirs=5, per_dir=1000)  # more files than the restore keeps pending at once
    snap = store.backup(str(src))

    report = snap.restore(tmp_path / "out")

    assert (report.files, report.errors) == (5000, [])
    assert_same_tree(src, tmp_path / "out")


class _DataOutOfReach:
    """A store whose data packs cannot be read for now (their server is gone): a TransientError each time."""

    def __init__(self, inner: object, packs: set[bytes]) -> None:
        self.inner, self.packs = inner, packs

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get(self, resource: object, rid: bytes, *args: object) -> bytes:
        if rid in self.packs:
            raise kloset.TransientError("connection reset by peer")
        return self.inner.get(resource, rid, *args)  # type: ignore[attr-defined, no-any-return]


def test_files_a_store_out_of_reach_could_not_give_are_counted_as_worth_retrying(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path) -> None:
    from kloset.objects import BlobType

    snap = store.backup(str(rich_tree.root))
    reopened = kloset.open(str(store.location))
    snap = reopened.snapshot(snap.id)
    repo = reopened._repo
    data = {repo.index.packs[no][0] for _, t, no, _, _ in repo.index.entries() if t == BlobType.CHUNK}
    repo.storage = _DataOutOfReach(repo.storage, data)  # type: ignore[assignment]
    report = snap.restore(tmp_path / "out")
    assert report.errors and report.transient == len(report.errors)
    assert all("connection reset" in why for _, why in report.errors)
