"""Directory listings (Snapshot.listdir/iterdir/entry): exact against the whole index, paged, and cheap."""

from __future__ import annotations

import random

import pytest

import kloset
from kloset.snapshot.order import path_key
from kloset.snapshot.reader import SnapshotReader

from .importers import CraftedImporter, dir_record, file_record, symlink_record

ROOT = "/r"
# Names that sort around each other in tricky ways: '/' is lower than every byte of a name in snapshot
# order, so "a" and its subtree come before "a b", "a-", "a.b"; a name holding 0x01 sorts right after the
# jump past its sibling's subtree; names that are not UTF-8 keep their bytes.
TRICKY = ["a", "a b", "a-", "a.b", "a\x01z", "b", "é", "z\udcff", "Z", "0"]


def _tree(rng: random.Random) -> list[kloset.Record]:
    records = [dir_record(ROOT)]
    for name in TRICKY:
        d = f"{ROOT}/{name}"
        records.append(dir_record(d))
        # Subtrees of a few thousand rows sit between siblings: a listing must jump across pieces.
        for i in range(rng.choice([0, 3, 1500])):
            records.append(file_record(f"{d}/f{i:05}", b""))
        sub = f"{d}/{name}"
        records.append(dir_record(sub))
        records += [file_record(f"{sub}/g{i:04}", b"") for i in range(rng.choice([1, 900]))]
        records.append(file_record(f"{ROOT}/{name}.txt", b"x"))
    records.append(symlink_record(f"{ROOT}/link", "a"))
    big = f"{ROOT}/big"
    records.append(dir_record(big))
    records += [file_record(f"{big}/{i:06}", b"") for i in range(10_000)]
    return sorted(records, key=lambda r: path_key(r.pathname))


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> kloset.Snapshot:
    store = kloset.create(str(tmp_path_factory.mktemp("listing") / "store"), plaintext=True)
    return store.backup(CraftedImporter(ROOT, _tree(random.Random(7))))


def _expected(snap: kloset.Snapshot) -> dict[str, list[str]]:
    """Every folder's children from the whole index, in snapshot order."""
    children: dict[str, list[str]] = {}
    for row in snap.entries(["path", "raw_path", "type"]):
        path = row["raw_path"].decode("utf-8", "surrogateescape") if row["raw_path"] else row["path"]
        if row["type"] == "dir":
            children.setdefault(path, [])
        if path != ROOT:
            children.setdefault(path.rsplit("/", 1)[0] or "/", []).append(path)
    return {d: sorted(c, key=path_key) for d, c in children.items()}


def _paths(entries: list[kloset.Entry]) -> list[str]:
    return [e.path for e in entries]


def test_every_folder_lists_exactly_its_children(snap: kloset.Snapshot) -> None:
    assert len(snap.header.tables["files"]) > 10  # the tree spans many index pieces
    expected = _expected(snap)
    for folder, children in expected.items():
        got = snap.listdir(folder)
        assert [e.path.encode("utf-8", "surrogateescape") for e in got] == \
               [c.encode("utf-8", "surrogateescape") for c in children], folder


def test_pages_join_up_to_the_whole_listing(snap: kloset.Snapshot) -> None:
    for folder, size in ((ROOT, 97), (f"{ROOT}/big", 1000), (f"{ROOT}/a", 7)):
        whole = _paths(snap.listdir(folder))
        pages: list[str] = []
        after = None
        while True:
            page = snap.listdir(folder, after=after, limit=size)
            assert len(page) <= size
            if not page:
                break
            pages += _paths(page)
            after = page[-1].name
        assert pages == whole
    # ``after`` may be a path too, and may name an entry that is not there (it was deleted meanwhile).
    assert snap.listdir(ROOT, after=f"{ROOT}/a.b", limit=1)[0].name == "a.b.txt"
    assert snap.listdir(ROOT, after="a.a", limit=1)[0].name == "a.b"


def test_entries_carry_their_metadata(snap: kloset.Snapshot) -> None:
    root = snap.entry()
    assert root.path == ROOT and root.is_dir
    txt = snap.entry(f"{ROOT}/a.txt")
    assert (txt.type, txt.size, txt.name, txt.is_dir) == ("file", 1, "a.txt", False)
    assert txt.object_id is not None and len(txt.object_id) == 64
    link = next(e for e in snap.listdir() if e.name == "link")
    assert (link.type, link.target) == ("symlink", "a")
    assert snap.entry(f"{ROOT}/z\udcff").path.endswith("z\udcff")


def test_missing_paths_and_files_are_not_folders(snap: kloset.Snapshot) -> None:
    with pytest.raises(kloset.NotFound):
        snap.listdir(f"{ROOT}/nope")
    with pytest.raises(kloset.NotFound):
        snap.listdir(f"{ROOT}/a.txt")
    with pytest.raises(kloset.NotFound):
        snap.entry(f"{ROOT}/a/missing")


def test_a_listing_reads_only_the_pieces_of_its_own_entries(snap: kloset.Snapshot,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[bytes] = []
    original = SnapshotReader.piece

    def counted(self: SnapshotReader, table: str, blob_id: bytes, columns: list[str] | None = None) -> object:
        reads.append(blob_id)
        return original(self, table, blob_id, columns)

    monkeypatch.setattr(SnapshotReader, "piece", counted)
    fresh = kloset.Snapshot(snap._repo, snap.header)  # a cold listing cache
    pieces = len(snap.header.tables["files"])
    fresh.listdir(limit=200)
    # The root's 21 children sit at the ends of subtrees that span the index; reading them all would be
    # every piece.
    assert len(set(reads)) < pieces / 2
    reads.clear()
    assert len(fresh.listdir(f"{ROOT}/big")) == 10_000
    assert len(set(reads)) <= 10_000 // 64 + 2
