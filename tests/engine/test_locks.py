"""Store locks: shared for backups and rm, exclusive for maintenance, stale ones ignored, none left behind."""

from __future__ import annotations

import time
import types
from pathlib import Path

import pytest

import kloset
from kloset.connectors.fs.store import FSStore
from kloset.objects import ResourceType
from kloset.repository import locks
from kloset.repository.locks import STALE_AFTER, Lock
from kloset.repository.repo import Repository

from .importers import HookedImporter


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_text("x\n")
    return tmp_path / "src"


def lock_ids(store: kloset.Store) -> list[bytes]:
    return store.storage.list(ResourceType.LOCK)


def write_lock(store: kloset.Store, *, exclusive: bool, age: float, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A lock resource as a process that took it ``age`` seconds ago (and then died) left it."""
    then = time.time() - age
    with monkeypatch.context() as m:
        m.setattr(locks, "time", types.SimpleNamespace(time=lambda: then))
        return Lock(store.storage, store._repo.keyring, exclusive)._write()


def test_a_backup_leaves_no_lock_behind(store: kloset.Store, src: Path) -> None:
    store.backup(str(src))

    assert lock_ids(store) == []


def test_a_failed_backup_leaves_no_lock_behind(store: kloset.Store, src: Path) -> None:
    def explode(rec: kloset.Record) -> kloset.Record:
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        store.backup(HookedImporter(src, explode))

    assert lock_ids(store) == []


def test_an_exclusive_lock_blocks_a_backup_and_rm(store: kloset.Store, src: Path) -> None:
    snap = store.backup(str(src))
    with store._repo.lock(exclusive=True) as held:
        with pytest.raises(kloset.LockError, match="exclusively"):
            store.backup(str(src))
        with pytest.raises(kloset.LockError):
            store.rm(snap.id)
        assert lock_ids(store) == [held.lock_id]  # the refused takers removed their own locks

    assert lock_ids(store) == []
    assert [s.id for s in store.snapshots()] == [snap.id]


def test_an_exclusive_lock_blocks_another_process_and_a_shared_lock_blocks_an_exclusive_one(
        store: kloset.Store, store_path: Path) -> None:
    other = kloset.open(str(store_path))
    with store._repo.lock(exclusive=True):
        with pytest.raises(kloset.LockError):
            other._repo.lock(exclusive=False).acquire()
        with pytest.raises(kloset.LockError):
            other._repo.lock(exclusive=True).acquire()
    with store._repo.lock(exclusive=False):
        with pytest.raises(kloset.LockError, match="for writing"):
            other._repo.lock(exclusive=True).acquire()
        with other._repo.lock(exclusive=False):  # shared locks coexist
            assert len(lock_ids(store)) == 2
    assert lock_ids(store) == []


@pytest.mark.parametrize("exclusive", [True, False])
def test_a_stale_lock_does_not_block(store: kloset.Store, src: Path, monkeypatch: pytest.MonkeyPatch,
                                     exclusive: bool) -> None:
    stale = write_lock(store, exclusive=exclusive, age=STALE_AFTER + 5, monkeypatch=monkeypatch)

    store.backup(str(src))
    with store._repo.lock(exclusive=True):
        pass

    assert lock_ids(store) == [stale]  # ignored, not removed: removing is maintenance's business


def test_a_lock_younger_than_the_stale_age_still_blocks(
        store: kloset.Store, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lock(store, exclusive=True, age=STALE_AFTER - 60, monkeypatch=monkeypatch)

    with pytest.raises(kloset.LockError):
        store.backup(str(src))


def test_an_unreadable_lock_does_not_block(store: kloset.Store, store_path: Path, src: Path) -> None:
    (store_path / "locks" / ("ab" * 32)).write_bytes(b"not a lock at all")

    store.backup(str(src))
    with store._repo.lock(exclusive=True):
        pass


def test_a_held_lock_is_refreshed_so_it_never_looks_stale(
        store: kloset.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "REFRESH_EVERY", 0.05)
    lock = store._repo.lock(exclusive=True).acquire()
    try:
        first = lock.lock_id
        deadline = time.monotonic() + 5
        while lock.lock_id == first and time.monotonic() < deadline:
            time.sleep(0.02)
        monkeypatch.setattr(locks, "REFRESH_EVERY", 3600.0)  # let it settle after one more refresh at most
        time.sleep(0.3)
        assert lock.lock_id != first
        assert lock_ids(store) == [lock.lock_id]  # the old lock is replaced, not left beside the new one
        with pytest.raises(kloset.LockError):
            kloset.open(store.location)._repo.lock().acquire()
    finally:
        lock.release()
    assert lock_ids(store) == []


class LockReadsFail(FSStore):
    """The fs store, failing to list or read locks, as a store whose connection drops would."""

    def __init__(self, config: dict[str, str], what: str) -> None:
        super().__init__(config)
        self.what = what

    def list(self, rtype: ResourceType) -> list[bytes]:
        if rtype == ResourceType.LOCK and self.what == "list":
            raise kloset.TransientError("connection reset")
        return super().list(rtype)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if rtype == ResourceType.LOCK and self.what == "get":
            raise kloset.TransientError("connection reset")
        return super().get(rtype, rid, offset, length)


@pytest.mark.parametrize("what", ["list", "get"])
def test_a_lock_that_fails_to_look_at_the_others_is_not_left_behind(
        store: kloset.Store, store_path: Path, src: Path, what: str) -> None:
    flaky = kloset.Store(Repository.open(LockReadsFail({"location": str(store_path)}, what), None), str(store_path))
    with store._repo.lock() as other:  # another writer holds the store
        with pytest.raises(kloset.TransientError):
            flaky.backup(str(src))

        assert lock_ids(store) == [other.lock_id]  # a leftover would block maintenance for STALE_AFTER


def write_lock_of(store: kloset.Store, *, pid: int, hostname: str, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A fresh exclusive lock as process ``pid`` of ``hostname`` left it."""
    with monkeypatch.context() as m:
        m.setattr(locks.os, "getpid", lambda: pid)
        m.setattr(locks.socket, "gethostname", lambda: hostname)
        return Lock(store.storage, store._repo.keyring, True)._write()


def a_dead_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_lock_of_a_process_of_this_host_that_is_gone_is_removed_at_once(
        store: kloset.Store, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    dead = write_lock_of(store, pid=a_dead_pid(), hostname=socket.gethostname(), monkeypatch=monkeypatch)
    store.backup(str(src))
    assert dead not in lock_ids(store)
    with store._repo.lock(exclusive=True):
        pass


def test_a_lock_of_another_host_holds_until_it_is_stale(
        store: kloset.Store, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lock_of(store, pid=a_dead_pid(), hostname="another-host.example", monkeypatch=monkeypatch)
    with pytest.raises(kloset.LockError, match=r"another-host\.example"):
        store.backup(str(src))
