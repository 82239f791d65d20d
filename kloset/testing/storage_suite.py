"""The conformance suite that every store connector joins::

    class TestMyStore(StorageConformance):
        def make_store(self, tmp_path: Path) -> Storage:
            return MyStore({"location": f"my://{tmp_path.name}"})

Each call of ``make_store`` returns a new connector instance. Calls with the same ``tmp_path`` must
reach the same store (the suite reopens a store through a second instance), and each test's fresh
``tmp_path`` must give a store that does not exist yet.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ..errors import ConfigError, NotFound, StoreNotFound, Unsupported
from ..objects import ResourceType
from ..storage import Mode, Storage

CONFIG = b"kloset conformance config\x00\xff\x01"


def resource_id(n: int, label: str = "") -> bytes:
    """A deterministic 32-byte ID, distinct for each (n, label)."""
    return hashlib.sha256(f"{label}:{n}".encode()).digest()


def payload(n: int, size: int) -> bytes:
    """Deterministic bytes that differ from one ``n`` to the next, so mixed-up resources show."""
    block = hashlib.sha256(f"payload:{n}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class StorageConformance(ABC):
    """The Storage contract as tests; subclasses implement :meth:`make_store`."""

    #: Sealed by close() and only read afterwards (ptar): the suite checks that too.
    write_once: bool = False

    @abstractmethod
    def make_store(self, tmp_path: Path) -> Storage:
        """A new connector instance on the store at a location derived from ``tmp_path``."""

    def created_store(self, tmp_path: Path) -> Storage:
        store = self.make_store(tmp_path)
        store.create(CONFIG)
        return store

    def test_open_before_create_raises_store_not_found(self, tmp_path: Path) -> None:
        with pytest.raises(StoreNotFound):
            self.make_store(tmp_path).open()

    def test_create_then_open_returns_the_config(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        assert store.open() == CONFIG
        assert self.make_store(tmp_path).open() == CONFIG
        store.ping()

    def test_second_create_raises_config_error_and_keeps_the_config(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        with pytest.raises(ConfigError):
            store.create(b"other")
        with pytest.raises(ConfigError):
            self.make_store(tmp_path).create(b"other")
        assert self.make_store(tmp_path).open() == CONFIG

    def test_put_get_round_trip_for_every_resource_type(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        for i, rtype in enumerate(ResourceType):
            data = payload(i, 1000 + i)
            assert store.put(rtype, resource_id(i), data) == len(data)
            assert store.get(rtype, resource_id(i)) == data

    def test_empty_resource_round_trips(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        assert store.put(ResourceType.LOCK, resource_id(0), b"") == 0
        assert store.get(ResourceType.LOCK, resource_id(0)) == b""
        assert store.list(ResourceType.LOCK) == [resource_id(0)]

    def test_ranged_get_returns_the_range_or_what_exists_past_the_end(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        data = payload(1, 1000)
        rid = resource_id(1)
        store.put(ResourceType.PACKFILE, rid, data)
        assert store.get(ResourceType.PACKFILE, rid, 0, 10) == data[:10]
        assert store.get(ResourceType.PACKFILE, rid, 100, 50) == data[100:150]
        assert store.get(ResourceType.PACKFILE, rid, 100) == data[100:]
        assert store.get(ResourceType.PACKFILE, rid, 990, 100) == data[990:]
        assert store.get(ResourceType.PACKFILE, rid, 500, 0) == b""
        assert store.get(ResourceType.PACKFILE, rid, 1000, 10) == b""
        assert store.get(ResourceType.PACKFILE, rid, 5000) == b""
        assert store.get(ResourceType.PACKFILE, rid, 0, 10 * 2**30) == data

    def test_get_of_a_missing_resource_raises_not_found(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        with pytest.raises(NotFound):
            store.get(ResourceType.PACKFILE, resource_id(1))
        store.put(ResourceType.STATE, resource_id(1), b"state")
        for rtype in (ResourceType.PACKFILE, ResourceType.LOCK):
            with pytest.raises(NotFound):
                store.get(rtype, resource_id(1))
        with pytest.raises(NotFound):
            store.get(ResourceType.STATE, resource_id(2), 0, 3)

    def test_list_returns_exactly_the_ids_put_for_each_type(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        for rtype in ResourceType:
            assert store.list(rtype) == []
        shared = resource_id(0, "shared")
        expected: dict[ResourceType, set[bytes]] = {}
        for rtype in ResourceType:
            ids = {resource_id(n, rtype.name) for n in range(20 if rtype is ResourceType.LOCK else 200)}
            for rid in ids | {shared}:
                store.put(rtype, rid, payload(rtype, 10))
            expected[rtype] = ids | {shared}
        for rtype in ResourceType:
            listed = store.list(rtype)
            assert all(type(rid) is bytes for rid in listed)
            assert len(listed) == len(expected[rtype])
            assert set(listed) == expected[rtype]
            assert set(self.make_store(tmp_path).list(rtype)) == expected[rtype]

    def test_delete_removes_and_is_idempotent(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        for rtype in ResourceType:
            store.put(rtype, resource_id(1), b"one")
            store.put(rtype, resource_id(2), b"two")
            store.delete(rtype, resource_id(1))
            with pytest.raises(NotFound):
                store.get(rtype, resource_id(1))
            assert store.list(rtype) == [resource_id(2)]
            store.delete(rtype, resource_id(1))
            store.delete(rtype, resource_id(3))
            assert store.get(rtype, resource_id(2)) == b"two"

    def test_delete_of_one_type_keeps_the_same_id_of_other_types(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        for rtype in ResourceType:
            store.put(rtype, resource_id(1), rtype.name.encode())
        store.delete(ResourceType.STATE, resource_id(1))
        assert store.get(ResourceType.PACKFILE, resource_id(1)) == b"PACKFILE"
        assert store.get(ResourceType.LOCK, resource_id(1)) == b"LOCK"

    def test_put_of_the_same_id_twice_is_idempotent(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        data = payload(7, 4096)
        assert store.put(ResourceType.PACKFILE, resource_id(7), data) == len(data)
        assert store.put(ResourceType.PACKFILE, resource_id(7), data) == len(data)
        assert store.list(ResourceType.PACKFILE) == [resource_id(7)]
        assert store.get(ResourceType.PACKFILE, resource_id(7)) == data

    def test_resources_are_visible_through_another_instance(self, tmp_path: Path) -> None:
        self.created_store(tmp_path).put(ResourceType.STATE, resource_id(5), b"delta")
        other = self.make_store(tmp_path)
        assert other.open() == CONFIG
        assert other.get(ResourceType.STATE, resource_id(5)) == b"delta"

    def test_concurrent_puts_from_threads(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        ids = [resource_id(n) for n in range(128)]

        def put(n: int) -> int:
            return store.put(ResourceType.PACKFILE, ids[n], payload(n, 1000 + 997 * n))

        with ThreadPoolExecutor(8) as pool:
            written = list(pool.map(put, range(len(ids))))
        assert written == [1000 + 997 * n for n in range(len(ids))]
        assert sorted(store.list(ResourceType.PACKFILE)) == sorted(ids)
        for n, rid in enumerate(ids):
            assert store.get(ResourceType.PACKFILE, rid) == payload(n, 1000 + 997 * n)

    def test_concurrent_puts_of_the_same_id_leave_one_whole_resource(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        data = payload(3, 256 * 1024)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: store.put(ResourceType.STATE, resource_id(3), data), range(32)))
        assert store.list(ResourceType.STATE) == [resource_id(3)]
        assert store.get(ResourceType.STATE, resource_id(3)) == data

    def test_a_20_mib_resource_round_trips(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        data = os.urandom(20 * 2**20)
        assert store.put(ResourceType.PACKFILE, resource_id(20), data) == len(data)
        assert store.get(ResourceType.PACKFILE, resource_id(20)) == data
        assert store.get(ResourceType.PACKFILE, resource_id(20), 19 * 2**20, 2**21) == data[19 * 2**20 :]
        assert store.get(ResourceType.PACKFILE, resource_id(20), 12345, 67890) == data[12345 : 12345 + 67890]

    def test_size_is_at_least_the_bytes_put_or_unknown(self, tmp_path: Path) -> None:
        store = self.created_store(tmp_path)
        total = 0
        for n in range(10):
            total += store.put(ResourceType.PACKFILE, resource_id(n), payload(n, 10_000))
        size = store.size()
        assert size == -1 or size >= total

    def test_a_closed_write_once_store_keeps_everything_and_is_read_only(self, tmp_path: Path) -> None:
        if not self.write_once:
            pytest.skip("not a write-once store")
        store = self.created_store(tmp_path)
        store.put(ResourceType.PACKFILE, resource_id(1), payload(1, 5000))
        store.close()
        other = self.make_store(tmp_path)
        assert other.open() == CONFIG and other.mode() == Mode.READ
        assert other.get(ResourceType.PACKFILE, resource_id(1), 10, 20) == payload(1, 5000)[10:30]
        with pytest.raises(Unsupported):
            other.put(ResourceType.STATE, resource_id(2), b"x")
