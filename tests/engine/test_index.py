"""The merged blob index, its states and its local cache, at sizes where their compact forms matter."""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kloset.encryption import Keyring, MasterKeys
from kloset.errors import NotFound
from kloset.objects import BlobType
from kloset.packfile import BlobLocation, BlobTable
from kloset.repository.state import Index, IndexCache, PackEntry, StateDelta
from kloset.testing.memory import MemoryStore

locations = st.lists(st.builds(BlobLocation, st.sampled_from([int(t) for t in BlobType]),
                               st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1),
                               st.integers(0, 2**32 - 1)), max_size=20)


@given(locations)
def test_a_blob_table_gives_back_what_it_was_given(locs: list[BlobLocation]) -> None:
    table = BlobTable(locs)
    assert list(table) == locs
    assert len(table) == len(locs)
    assert [BlobLocation(*r) for r in table.rows()] == locs
    if locs:
        assert table.last_length() == locs[-1].length


def _index(blobs: int, packs: int = 3) -> Index:
    idx = Index()
    for p in range(packs):
        table = BlobTable()
        for b in range(blobs // packs):
            table.append(BlobType.CHUNK, os.urandom(32), b * 100, 100)
        idx.merge(os.urandom(32), StateDelta(packs=[PackEntry(os.urandom(32), os.urandom(40), table)],
                                             deleted=[os.urandom(32)] if p == 0 else []))
    return idx


@settings(max_examples=20)
@given(st.integers(0, 40), st.integers(1, 7))
def test_the_cache_dump_in_parts_is_the_msgpack_of_the_whole(blobs: int, per_part: int) -> None:
    idx = _index(blobs)
    records = b"".join(idx.dump_parts(per_part))
    whole = msgpack.unpackb(records)
    assert set(whole) == {"version", "states", "deleted", "packs", "meta", "blobs"}
    assert msgpack.packb(whole) == records  # the same bytes msgpack itself would write
    assert Index.load(records).blobs == idx.blobs


def test_metadata_blobs_are_found_without_loading_the_chunks() -> None:
    idx = _index(300)
    meta = BlobTable()
    kinds = [BlobType.SNAPSHOT, BlobType.FILES, BlobType.ANALYSIS, BlobType.RESULT]
    ids = {t: os.urandom(32) for t in kinds}
    for n, t in enumerate(kinds):
        meta.append(t, ids[t], n * 10, 10)
    idx.merge(os.urandom(32), StateDelta(packs=[PackEntry(os.urandom(32), os.urandom(40), meta)]))
    back = Index.load(b"".join(idx.dump_parts()))
    assert back.snapshot_ids() == [ids[BlobType.SNAPSHOT]] and back.analysis_ids() == [ids[BlobType.ANALYSIS]]
    for t in kinds:
        assert back.locate(ids[t]) == idx.locate(ids[t])
    assert back._blobs is None  # the chunk records are still packed
    chunk = next(i for i, v in idx.blobs.items() if v & 0xFF == BlobType.CHUNK)
    assert back.locate(chunk) == idx.locate(chunk)
    assert back.blobs == idx.blobs
    with pytest.raises(NotFound):
        Index.load(b"".join(idx.dump_parts())).locate(os.urandom(32))


def test_a_large_index_survives_the_cache(tmp_path: Path) -> None:
    keyring = Keyring(MasterKeys(os.urandom(32), os.urandom(32)), encrypted=True)
    idx = _index(200_000)
    cache = IndexCache(MemoryStore({"location": "mem://"}), keyring, tmp_path)
    cache.save(idx)
    back = cache._read_cache()
    assert back is not None
    assert back.blobs == idx.blobs and back.packs == idx.packs
    assert back.states == idx.states and back.deleted == idx.deleted


def test_a_state_round_trips_its_blob_tables() -> None:
    keyring = Keyring(MasterKeys(os.urandom(32), os.urandom(32)), encrypted=True)
    table = BlobTable(BlobLocation(BlobType.CHUNK, os.urandom(32), i * 10, 10) for i in range(1000))
    delta = StateDelta(packs=[PackEntry(os.urandom(32), os.urandom(40), table)], deleted=[os.urandom(32)])
    sid, sealed = delta.encode(keyring)
    back = StateDelta.decode(keyring, sid, sealed)
    assert back.packs == delta.packs and back.deleted == delta.deleted


def test_snapshot_ids_follow_merges_deletions_and_the_cache() -> None:
    snaps = [os.urandom(32) for _ in range(3)]
    rows = [BlobLocation(BlobType.CHUNK, os.urandom(32), 0, 10)]
    rows += [BlobLocation(BlobType.SNAPSHOT, s, 10 * (n + 1), 10) for n, s in enumerate(snaps)]
    idx = Index()
    idx.merge(os.urandom(32), StateDelta(packs=[PackEntry(os.urandom(32), os.urandom(40), BlobTable(rows))]))
    assert idx.snapshot_ids() == snaps
    idx.merge(os.urandom(32), StateDelta(deleted=[snaps[1]]))
    assert idx.snapshot_ids() == [snaps[0], snaps[2]]
    assert Index.load(idx.dump()).snapshot_ids() == [snaps[0], snaps[2]]
