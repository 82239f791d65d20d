from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from kloset.connectors.fs.store import TMP_PREFIX, FSStore
from kloset.errors import ConfigError, NotFound, StoreNotFound, TransientError
from kloset.objects import ResourceType
from kloset.storage import Storage
from kloset.testing.storage_suite import CONFIG, StorageConformance, payload, resource_id


class TestFSStore(StorageConformance):
    def make_store(self, tmp_path: Path) -> Storage:
        return FSStore({"location": str(tmp_path / "store")})


def make(tmp_path: Path, **config: str) -> FSStore:
    store = FSStore({"location": str(tmp_path / "store"), **config})
    store.create(CONFIG)
    return store


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_layout_on_disk_is_as_documented(tmp_path: Path) -> None:
    store = make(tmp_path)
    root = tmp_path / "store"
    rid = bytes.fromhex("ab" * 32)
    for rtype in ResourceType:
        store.put(rtype, rid, rtype.name.encode())
    assert (root / "CONFIG").read_bytes() == CONFIG
    assert (root / "packfiles" / "ab" / rid.hex()).read_bytes() == b"PACKFILE"
    assert (root / "states" / "ab" / rid.hex()).read_bytes() == b"STATE"
    assert (root / "locks" / rid.hex()).read_bytes() == b"LOCK"
    assert sorted(p.name for p in root.iterdir()) == ["CONFIG", "locks", "packfiles", "states"]
    assert len(all_files(root)) == 4


def test_fs_url_location_is_the_same_store_as_the_bare_path(tmp_path: Path) -> None:
    make(tmp_path).put(ResourceType.STATE, resource_id(1), b"x")
    store = FSStore({"location": f"fs://{tmp_path / 'store'}"})
    assert store.open() == CONFIG
    assert store.get(ResourceType.STATE, resource_id(1)) == b"x"


def test_missing_location_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        FSStore({})


def test_puts_leave_no_temp_files_behind(tmp_path: Path) -> None:
    store = make(tmp_path)
    for n in range(50):
        store.put(ResourceType(n % 3 + 1), resource_id(n), payload(n, 5000))
    assert not [p for p in all_files(tmp_path) if p.name.startswith(TMP_PREFIX)]


def test_a_temp_file_left_by_a_crash_is_not_listed(tmp_path: Path) -> None:
    store = make(tmp_path)
    rid = resource_id(1)
    store.put(ResourceType.PACKFILE, rid, b"whole")
    bucket = tmp_path / "store" / "packfiles" / rid.hex()[:2]
    (bucket / f"{TMP_PREFIX}{resource_id(2).hex()}-0123456789abcdef").write_bytes(b"torn")
    (bucket / "notes.txt").write_bytes(b"stray")
    (bucket / resource_id(3).hex().upper()).write_bytes(b"not our spelling")
    (tmp_path / "store" / "locks" / f"{TMP_PREFIX}{resource_id(4).hex()}-x").write_bytes(b"torn")
    assert store.list(ResourceType.PACKFILE) == [rid]
    assert store.list(ResourceType.LOCK) == []


def test_a_resource_in_the_wrong_bucket_is_not_listed(tmp_path: Path) -> None:
    store = make(tmp_path)
    rid = bytes.fromhex("cd" * 32)
    (tmp_path / "store" / "packfiles" / "00" / rid.hex()).write_bytes(b"misplaced")
    assert store.list(ResourceType.PACKFILE) == []


def test_opening_a_directory_that_is_not_a_store_raises_store_not_found(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound):
        FSStore({"location": str(tmp_path / "nothing-here")}).open()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("hello")
    with pytest.raises(StoreNotFound):
        FSStore({"location": str(tmp_path / "other")}).open()
    with pytest.raises(StoreNotFound):
        FSStore({"location": str(tmp_path / "other" / "file.txt")}).open()


def test_create_refuses_a_non_empty_directory_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("hello")
    with pytest.raises(ConfigError):
        FSStore({"location": str(tmp_path / "other")}).create(CONFIG)
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["file.txt"]
    with pytest.raises(ConfigError):
        FSStore({"location": str(tmp_path / "other" / "file.txt")}).create(CONFIG)


def test_create_accepts_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    assert make(tmp_path).open() == CONFIG


def test_writes_before_create_raise_store_not_found(tmp_path: Path) -> None:
    store = FSStore({"location": str(tmp_path / "store")})
    for rtype in ResourceType:
        with pytest.raises(StoreNotFound):
            store.put(rtype, resource_id(1), b"x")
        with pytest.raises(StoreNotFound):
            store.list(rtype)
    assert not (tmp_path / "store").exists()


def test_a_lost_bucket_is_made_again_on_put(tmp_path: Path) -> None:
    store = make(tmp_path)
    rid = resource_id(1)
    bucket = tmp_path / "store" / "packfiles" / rid.hex()[:2]
    bucket.rmdir()
    store.put(ResourceType.PACKFILE, rid, b"back")
    assert store.get(ResourceType.PACKFILE, rid) == b"back"


def test_the_final_name_appears_only_after_the_whole_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path)
    data = payload(9, 3 * 2**20)
    rid = resource_id(9)
    final = tmp_path / "store" / "packfiles" / rid.hex()[:2] / rid.hex()
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def checking_replace(src: str, dst: str) -> None:
        assert not final.exists()
        assert Path(src).parent == Path(dst).parent == final.parent
        assert Path(src).name.startswith(TMP_PREFIX)
        assert Path(src).read_bytes() == data
        assert store.list(ResourceType.PACKFILE) == []
        renames.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    store.put(ResourceType.PACKFILE, rid, data)
    assert renames == [(renames[0][0], str(final))]
    assert final.read_bytes() == data


def test_a_failed_write_leaves_nothing_and_is_transient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path)

    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(TransientError) as info:
        store.put(ResourceType.PACKFILE, resource_id(1), b"data")
    assert isinstance(info.value.__cause__, OSError)
    monkeypatch.undo()
    assert store.list(ResourceType.PACKFILE) == []
    assert all_files(tmp_path) == [tmp_path / "store" / "CONFIG"]


def test_writes_and_deletes_fsync_the_file_and_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path)
    synced: list[bool] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    store.put(ResourceType.STATE, resource_id(1), b"delta")
    assert synced == [False, True]
    store.delete(ResourceType.STATE, resource_id(1))
    assert synced == [False, True, True]
    # Locks are not flushed: their holder does not outlive a crash of the machine either.
    store.put(ResourceType.LOCK, resource_id(2), b"lock")
    store.delete(ResourceType.LOCK, resource_id(2))
    assert synced == [False, True, True]


def test_fsync_false_skips_every_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    store = make(tmp_path, fsync="false")
    store.put(ResourceType.STATE, resource_id(1), b"delta")
    store.delete(ResourceType.STATE, resource_id(1))
    assert calls == []


def test_size_sums_the_file_sizes(tmp_path: Path) -> None:
    store = make(tmp_path, fsync="false")
    store.put(ResourceType.PACKFILE, resource_id(1), b"x" * 1000)
    store.put(ResourceType.LOCK, resource_id(2), b"y" * 10)
    assert store.size() == len(CONFIG) + 1010


def test_get_through_a_file_in_place_of_a_bucket_is_not_found(tmp_path: Path) -> None:
    store = make(tmp_path, fsync="false")
    rid = resource_id(1)
    bucket = tmp_path / "store" / "states" / rid.hex()[:2]
    bucket.rmdir()
    bucket.write_bytes(b"")
    with pytest.raises(NotFound):
        store.get(ResourceType.STATE, rid)
    store.delete(ResourceType.STATE, rid)


def test_a_pack_read_from_an_open_handle_sees_it_deleted_or_replaced(tmp_path: Path) -> None:
    store = make(tmp_path, fsync="false")
    rid = resource_id(7)
    store.put(ResourceType.PACKFILE, rid, b"first version of the pack")
    assert store.get(ResourceType.PACKFILE, rid, 6, 7) == b"version"  # the pack is kept open now
    path = next(p for p in all_files(tmp_path) if p.name == rid.hex())

    path.unlink()
    with pytest.raises(NotFound):
        store.get(ResourceType.PACKFILE, rid, 6, 7)

    store.put(ResourceType.PACKFILE, rid, b"other")
    assert store.get(ResourceType.PACKFILE, rid, 0, 5) == b"other"
    tmp = path.with_name("replacement")
    tmp.write_bytes(b"third")
    os.replace(tmp, path)
    assert store.get(ResourceType.PACKFILE, rid, 0, 5) == b"third"
    store.close()
