"""What wraps every store: retries of transient errors, a concurrency limit, and the local copy of the
metadata read from packs. Tried on the in-memory reference store, made to fail or to count its calls."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import kloset
from kloset.errors import (
    AuthenticationError,
    ConfigError,
    IntegrityError,
    KlosetError,
    NotFound,
    TransientError,
)
from kloset.objects import ResourceType
from kloset.registry import storage_for
from kloset.repository.backends import LimitedStorage, RetryingStorage, RetryPolicy, wrap
from kloset.repository.config import StoreConfig
from kloset.repository.packcache import DEFAULT_MIB, PackCache, cache_bytes
from kloset.repository.repo import Repository
from kloset.testing.memory import MemoryStore, clear_memory_stores

RID = bytes(range(32))
QUICK = {"retry_wait": "0.001", "retry_max_wait": "0.01"}


class FlakyStore(MemoryStore):
    """The memory store, its calls of one kind (``on``) raising the errors it is told to, in turn, before
    answering; counts its calls."""

    def __init__(self, config: dict[str, str], failures: list[KlosetError] | None = None, on: str = "") -> None:
        super().__init__(config)
        self.failures = list(failures or [])
        self.on = on
        self.calls: Counter[str] = Counter()
        self.packs_read = 0

    def _fail(self, name: str) -> None:
        self.calls[name] += 1
        if self.failures and name == self.on:
            raise self.failures.pop(0)

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        self._fail("put")
        return super().put(rtype, rid, data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        self._fail("get")
        self.packs_read += rtype == ResourceType.PACKFILE
        return super().get(rtype, rid, offset, length)

    def create(self, config: bytes) -> None:
        self._fail("create")
        super().create(config)


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    yield
    clear_memory_stores()


def flaky(*failures: KlosetError, on: str = "get", **keys: str) -> tuple[FlakyStore, kloset.Storage]:
    inner = FlakyStore({"location": "mem://flaky", **QUICK, **keys}, list(failures), on)
    if on != "create":
        inner.create(b"config")
    return inner, wrap(inner)


# -- retries --------------------------------------------------------------------------------------


def test_a_transient_error_is_retried_until_the_call_succeeds() -> None:
    inner, store = flaky(TransientError("timed out"), TransientError("connection reset"), on="put")

    assert store.put(ResourceType.PACKFILE, RID, b"data") == 4
    assert inner.calls["put"] == 3
    assert store.get(ResourceType.PACKFILE, RID) == b"data"


@pytest.mark.parametrize("error", [NotFound("gone"), AuthenticationError("denied"), IntegrityError("bad tag"),
                                   ConfigError("bad key")], ids=lambda e: type(e).__name__)
def test_a_permanent_error_is_not_retried(error: KlosetError) -> None:
    inner, store = flaky(error)

    with pytest.raises(type(error)):
        store.get(ResourceType.PACKFILE, RID)
    assert inner.calls["get"] == 1


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    inner, store = flaky(*(TransientError(f"try {i}") for i in range(10)), retries="3")

    with pytest.raises(TransientError, match="try 3"):
        store.get(ResourceType.PACKFILE, RID)
    assert inner.calls["get"] == 4


def test_the_total_time_of_retries_is_bounded() -> None:
    inner, store = flaky(*(TransientError("down") for _ in range(1000)), retries="1000", retry_time="0.3",
                         retry_wait="0.05", retry_max_wait="0.05")
    start = time.monotonic()

    with pytest.raises(TransientError):
        store.get(ResourceType.PACKFILE, RID)
    assert time.monotonic() - start < 1.5
    assert 2 <= inner.calls["get"] < 100


def test_waits_grow_and_are_jittered() -> None:
    waits = RetryPolicy(first_wait=1.0, max_wait=1000.0).retrying().wait
    state = type("State", (), {"attempt_number": 5})()

    drawn = [waits(state) for _ in range(200)]
    assert all(0 <= w <= 16 for w in drawn)
    assert len(set(drawn)) > 100 and max(drawn) > 8


def test_creating_a_store_is_not_retried() -> None:
    inner, store = flaky(TransientError("reset"), on="create")

    with pytest.raises(TransientError):
        store.create(b"config")
    assert inner.calls["create"] == 1


def test_retries_0_leaves_the_store_unwrapped() -> None:
    inner, store = flaky(retries="0")
    assert store is inner


@pytest.mark.parametrize("keys", [{"retries": "many"}, {"retry_time": "-1"}, {"max_connections": "2.5"},
                                  {"cache_size": "big"}])
def test_a_bad_setting_is_a_config_error_naming_its_key(keys: dict[str, str]) -> None:
    key = next(iter(keys))
    with pytest.raises(ConfigError, match=key):
        wrap(MemoryStore({"location": "mem://", **keys}))
        cache_bytes({"location": "mem://", **keys})


# -- the concurrency limit ------------------------------------------------------------------------


class SlowStore(MemoryStore):
    """Counts the calls inside it at once."""

    max_concurrency: ClassVar[int] = 3

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def list(self, rtype: ResourceType) -> list[bytes]:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.01)
        with self._lock:
            self.inside -= 1
        return super().list(rtype)


def _hammer(store: kloset.Storage, threads: int = 24, calls: int = 5) -> None:
    def work() -> None:
        for _ in range(calls):
            store.list(ResourceType.LOCK)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def test_the_connector_limit_holds_under_many_threads() -> None:
    inner = SlowStore({"location": "mem://slow"})
    inner.create(b"config")

    _hammer(wrap(inner))

    assert inner.most == 3


def test_max_connections_overrides_the_connector_limit() -> None:
    inner = SlowStore({"location": "mem://slow", "max_connections": "1"})
    inner.create(b"config")

    _hammer(wrap(inner), threads=8)

    assert inner.most == 1


def test_a_connector_without_a_limit_gets_none() -> None:
    store = wrap(MemoryStore({"location": "mem://"}))
    assert isinstance(store, RetryingStorage) and not isinstance(store.inner, LimitedStorage)


def test_every_store_built_for_use_is_wrapped_and_keeps_its_config(tmp_path: Path) -> None:
    config = {"location": str(tmp_path / "store"), "fsync": "false"}

    store = storage_for(config)

    assert isinstance(store, RetryingStorage)
    assert store.config == config  # what backup workers rebuild their store from
    assert isinstance(storage_for(dict(store.config)), RetryingStorage)


# -- the metadata cache ---------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    for i in range(20):
        (root / f"f{i}.txt").write_text(f"file {i}\n" * 100)
    return root


def remote(cache_root: Path, **keys: str) -> tuple[FlakyStore, kloset.Store]:
    """A fresh client of the shared memory store, as a new process would open it."""
    inner = FlakyStore({"location": "mem://remote", **keys})
    config = StoreConfig.parse(inner.open())
    return inner, kloset.Store(Repository(wrap(inner), config, config.unlock(None), cache_root), "mem://remote")


@pytest.fixture
def backed_up(tmp_path: Path, source: Path) -> Path:
    storage = wrap(FlakyStore({"location": "mem://remote"}))
    with kloset.Store(Repository.create(storage, None, cache_root=tmp_path / "writer"), "mem://remote") as s:
        s.backup(str(source), processes=0)
    return tmp_path / "reader"


def _list_everything(store: kloset.Store) -> None:
    for snap in store.snapshots():
        snap.files()


def test_a_second_listing_reads_no_metadata_from_the_store(backed_up: Path) -> None:
    first, store = remote(backed_up)
    _list_everything(store)
    assert first.packs_read > 0

    second, store = remote(backed_up)
    _list_everything(store)
    assert second.packs_read == 0


def test_file_content_is_not_kept(backed_up: Path) -> None:
    _, store = remote(backed_up)
    _list_everything(store)
    inner, store = remote(backed_up)
    snap = store.snapshot()

    for _ in range(2):
        assert snap.read_text(snap.root + "/f3.txt") == "file 3\n" * 100
    assert inner.packs_read == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_cache_entry_is_dropped_and_read_from_the_store(backed_up: Path, damage: str) -> None:
    _, store = remote(backed_up)
    _list_everything(store)
    entries = sorted((backed_up / store.id / "packs").iterdir())
    for entry in entries:
        data = bytearray(entry.read_bytes())
        if damage == "flip":
            data[-1] ^= 1
        entry.write_bytes(bytes(data[: len(data) // 2] if damage == "truncate" else b"" if damage == "empty"
                                else data))

    inner, store = remote(backed_up)
    _list_everything(store)

    assert inner.packs_read == len(entries)
    again, store = remote(backed_up)
    _list_everything(store)
    assert again.packs_read == 0  # read from the store, then kept again


def test_an_entry_that_passes_its_checksum_but_not_its_tag_is_read_from_the_store(backed_up: Path) -> None:
    _, store = remote(backed_up)
    _list_everything(store)
    entries = sorted((backed_up / store.id / "packs").iterdir())
    for entry in entries:
        # Consistent with itself, so the cache cannot tell: the blob's tag does.
        forged = bytes(reversed(entry.read_bytes()[16:]))
        entry.write_bytes(hashlib.blake2b(forged, digest_size=16).digest() + forged)

    inner, store = remote(backed_up)
    _list_everything(store)

    assert inner.packs_read == len(entries)


def test_the_cache_keeps_to_its_bound_dropping_the_least_recently_read(tmp_path: Path) -> None:
    cache = PackCache(tmp_path, 10_000)
    for i in range(8):
        cache.put(bytes([i]) * 32, 0, 2000, bytes([i]) * 2000)
        time.sleep(0.01)  # distinct modification times
    kept = {p.name for p in tmp_path.iterdir()}
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 10_000
    assert (bytes([7]) * 32).hex() + ".0.2000" in kept
    assert (bytes([0]) * 32).hex() + ".0.2000" not in kept


@pytest.mark.parametrize(("config", "expected"), [
    ({"location": "/var/backups"}, 0),
    ({"location": "x.ptar"}, 0),
    ({"location": "s3://host/bucket"}, DEFAULT_MIB << 20),
    ({"location": "sftp://host/store", "cache_size": "0"}, 0),
    ({"location": "/var/backups", "cache_size": "1"}, 1 << 20),
])
def test_only_remote_stores_are_cached_unless_asked(config: dict[str, str], expected: int) -> None:
    assert cache_bytes(config) == expected


def test_the_cache_folder_is_the_stores(backed_up: Path) -> None:
    _, store = remote(backed_up)
    _list_everything(store)
    repo: Any = store._repo

    assert repo.cache_dir == backed_up / store.id
    assert any((backed_up / store.id / "packs").iterdir())
