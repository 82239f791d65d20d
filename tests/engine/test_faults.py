"""Faults during a backup or a restore: a source or a store that fails, and a local cache that is
damaged or stale. Each leaves a store that reads right and takes the next backup."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import kloset
from kloset.connectors.fs.store import FSStore
from kloset.errors import TransientError
from kloset.objects import ResourceType
from kloset.repository.repo import Repository

from .importers import HookedImporter
from .trees import RichTree, assert_same_tree, manifest, packfiles, states


class FlakyStore(FSStore):
    """The fs store, failing the writes or reads it is told to, as a full or dying disk would."""

    def __init__(self, config: dict[str, str], *, fail_put: ResourceType | None = None,
                 fail_get: set[bytes] | None = None) -> None:
        super().__init__(config)
        self.fail_put = fail_put
        self.fail_get = fail_get or set()

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        if rtype == self.fail_put:
            raise TransientError("No space left on device")
        return super().put(rtype, rid, data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if rid in self.fail_get:
            raise TransientError("Input/output error")
        return super().get(rtype, rid, offset, length)


def open_flaky(store_path: Path, **faults: object) -> kloset.Store:
    storage = FlakyStore({"location": str(store_path)}, **faults)  # type: ignore[arg-type]
    return kloset.Store(Repository.open(storage, None), str(store_path))


def assert_healthy(store_path: Path, snapshot_ids: list[str], src: Path, tmp_path: Path) -> None:
    """Opened afresh, the store lists exactly these snapshots, checks ok, and takes a backup."""
    s = kloset.open(str(store_path))
    assert [x.id for x in s.snapshots()] == snapshot_ids
    assert s.check().ok
    assert s.storage.list(ResourceType.LOCK) == []
    snap = s.backup(str(src))
    out = tmp_path / f"healthy-{len(snapshot_ids)}"
    snap.restore(out)
    assert_same_tree(src, out)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_source_that_fails_midway_leaves_no_snapshot(
        store: kloset.Store, rich_tree: RichTree, tmp_path: Path, exc: type[BaseException]) -> None:
    before = store.backup(str(rich_tree.root))
    (rich_tree.root / "more.bin").write_bytes(b"new data" * 100_000)
    seen = []

    def hook(rec: kloset.Record) -> kloset.Record:
        seen.append(rec)
        if len(seen) == 20:
            raise exc("the source went away")
        return rec

    with pytest.raises(exc):
        store.backup(HookedImporter(rich_tree.root, hook))

    assert [s.id for s in store.snapshots()] == [before.id]
    assert_healthy(Path(store.location), [before.id], rich_tree.root, tmp_path)


@pytest.mark.parametrize("rtype", [ResourceType.PACKFILE, ResourceType.STATE], ids=["packfile", "state"])
def test_a_store_that_refuses_writes_fails_the_backup_cleanly(
        store: kloset.Store, store_path: Path, rich_tree: RichTree, tmp_path: Path, rtype: ResourceType) -> None:
    before = store.backup(str(rich_tree.root))
    (rich_tree.root / "more.bin").write_bytes(b"new data" * 100_000)
    flaky = open_flaky(store_path, fail_put=rtype)

    with pytest.raises(TransientError):
        flaky.backup(str(rich_tree.root))

    assert flaky.storage.list(ResourceType.LOCK) == []
    assert_healthy(store_path, [before.id], rich_tree.root, tmp_path)


def test_a_store_that_fails_reads_loses_only_the_files_in_the_unreadable_pack(
        store: kloset.Store, store_path: Path, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    data_pack = packfiles(store_path)[0]
    flaky = open_flaky(store_path, fail_get={bytes.fromhex(data_pack.name)})

    report = flaky.snapshot(snap.id).restore(tmp_path / "out")

    with_content = {str(rich_tree.root / k.decode("utf-8", "surrogateescape")) for k, e in
                    manifest(rich_tree.root).items() if e.type == "file" and e.size > 0}
    assert {p for p, _ in report.errors} == with_content
    assert all("Input/output error" in why for _, why in report.errors), report.errors
    assert (tmp_path / "out" / "empty.txt").exists()
    assert (tmp_path / "out" / "links" / "relative").is_symlink()
    assert not (tmp_path / "out" / "big.bin").exists()


def _cache_file(isolated_env: Path, store: kloset.Store) -> Path:
    return isolated_env / "cache" / "kloset" / store.id / "index"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "another-store"])
def test_a_damaged_index_cache_is_rebuilt_from_the_store(
        store: kloset.Store, store_path: Path, rich_tree: RichTree, tmp_path: Path, isolated_env: Path,
        damage: str) -> None:
    snap = store.backup(str(rich_tree.root))
    cache = _cache_file(isolated_env, store)
    assert cache.exists()
    if damage == "garbage":
        cache.write_bytes(b"\x93" * 5000)
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:-100])
    elif damage == "empty":
        cache.write_bytes(b"")
    else:
        other = kloset.create(str(tmp_path / "other"), plaintext=True)
        other.backup(str(rich_tree.root))
        shutil.copy(_cache_file(isolated_env, other), cache)

    assert_healthy(store_path, [snap.id], rich_tree.root, tmp_path)


def test_a_cache_that_names_a_state_the_store_lost_is_rebuilt(
        store: kloset.Store, store_path: Path, rich_tree: RichTree, tmp_path: Path) -> None:
    first = store.backup(str(rich_tree.root))
    old_states = set(states(store_path))
    (rich_tree.root / "more.txt").write_text("more\n")
    store.backup(str(rich_tree.root))
    (lost,) = set(states(store_path)) - old_states
    lost.unlink()  # as if the store were restored from an older copy

    assert_healthy(store_path, [first.id], rich_tree.root, tmp_path)


def test_leftover_temporary_files_are_ignored(
        store: kloset.Store, store_path: Path, rich_tree: RichTree, tmp_path: Path) -> None:
    snap = store.backup(str(rich_tree.root))
    for d in ("packfiles/ab", "states/cd", "locks"):
        (store_path / d / (".tmp-" + "ef" * 32 + "-0123456789abcdef")).write_bytes(b"half a write")

    assert_healthy(store_path, [snap.id], rich_tree.root, tmp_path)
