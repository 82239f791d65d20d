"""Batched blob reads: a restore asks the store for runs of neighbouring blobs, not for each blob."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kloset
from kloset.errors import IntegrityError
from kloset.objects import BlobType, ResourceType
from kloset.repository import fetch


def _count_pack_reads(store: kloset.Store, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    storage = store._repo.storage
    reads: list[bytes] = []
    get = storage.get

    def counting(rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if rtype == ResourceType.PACKFILE:
            reads.append(rid)
        return get(rtype, rid, offset, length)

    monkeypatch.setattr(storage, "get", counting)
    return reads


def test_restoring_many_small_files_reads_runs_of_blobs(store: kloset.Store, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"f{i:03}.txt").write_text(f"file {i}\n" * (i + 1))
    snap = store.backup(str(src), progress=False)
    snap = store.snapshot(snap.id)  # index pieces read anew, then only content is counted
    snap.files()
    reads = _count_pack_reads(store, monkeypatch)

    report = snap.restore(tmp_path / "out")

    assert report.files == 200 and not report.errors
    assert all((tmp_path / "out" / f"f{i:03}.txt").read_text() == f"file {i}\n" * (i + 1) for i in range(200))
    # The files are neighbours in their pack: one read of it, where a read per file would be 200 (the
    # other reads are of the snapshot's tables, in a metadata pack)
    packs = {store._repo.index.locate(bytes.fromhex(oid))[1] for oid in snap.files()["object_id"].dropna()}
    assert len(packs) == 1
    assert reads.count(packs.pop()) == 1


def test_a_damaged_blob_costs_only_the_files_that_hold_it(store: kloset.Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in "abc":
        (src / name).write_text(name * 1000)
    snap = store.backup(str(src), progress=False)
    repo = store._repo
    objects = snap.files().set_index("path")["object_id"]  # hex, as the DataFrame shows IDs
    ids = [bytes.fromhex(objects[f"{src}/{n}"]) for n in "abc"]
    _, pack_id, _, offset, length = repo.index.locate(ids[1])
    pack = repo.storage.get(ResourceType.PACKFILE, pack_id)
    damaged = bytearray(pack)
    damaged[offset + length // 2] ^= 0xFF
    path = next(p for p in (tmp_path / "store").rglob(pack_id.hex()))
    path.chmod(0o644)
    path.write_bytes(bytes(damaged))

    a, b, c = fetch.get_blobs(repo, BlobType.CHUNK, ids)
    assert a == b"a" * 1000 and c == b"c" * 1000
    assert isinstance(b, IntegrityError)

    report = snap.restore(tmp_path / "out")
    assert [p for p, _ in report.errors] == [f"{src}/b"]
    assert (tmp_path / "out" / "a").read_text() == "a" * 1000 and (tmp_path / "out" / "c").read_text() == "c" * 1000


def test_runs_join_near_blobs_and_stop_at_the_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "GAP", 10)
    monkeypatch.setattr(fetch, "SPAN", 100)
    blobs: list[tuple[int, int, bytes, int]] = [(0, 10, b"", 0), (15, 10, b"", 1), (40, 10, b"", 2),
                                                (50, 40, b"", 3), (90, 60, b"", 4)]
    runs: list[Any] = fetch._runs(blobs)
    assert [[b[3] for b in run] for run in runs] == [[0, 1], [2, 3], [4]]
