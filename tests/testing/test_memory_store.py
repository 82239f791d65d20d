from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kloset.errors import StoreNotFound
from kloset.objects import ResourceType
from kloset.storage import Storage
from kloset.testing.memory import MemoryStore, clear_memory_stores
from kloset.testing.storage_suite import CONFIG, StorageConformance, resource_id


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    yield
    clear_memory_stores()


class TestMemoryStore(StorageConformance):
    def make_store(self, tmp_path: Path) -> Storage:
        return MemoryStore({"location": f"mem://{tmp_path}"})


def test_instances_with_the_same_location_share_one_store() -> None:
    MemoryStore({"location": "mem://shared"}).create(CONFIG)
    MemoryStore({"location": "mem://shared"}).put(ResourceType.STATE, resource_id(1), b"delta")
    other = MemoryStore({"location": "mem://shared"})
    assert other.open() == CONFIG
    assert other.get(ResourceType.STATE, resource_id(1)) == b"delta"
    with pytest.raises(StoreNotFound):
        MemoryStore({"location": "mem://elsewhere"}).open()


def test_unnamed_stores_are_private() -> None:
    MemoryStore({"location": "mem://"}).create(CONFIG)
    with pytest.raises(StoreNotFound):
        MemoryStore({"location": "mem://"}).open()


def test_clearing_the_registry_forgets_every_store() -> None:
    kept = MemoryStore({"location": "mem://a"})
    kept.create(CONFIG)
    MemoryStore({"location": "mem://b"}).create(CONFIG)
    clear_memory_stores("mem://a")
    with pytest.raises(StoreNotFound):
        kept.open()
    assert MemoryStore({"location": "mem://b"}).open() == CONFIG
    clear_memory_stores()
    with pytest.raises(StoreNotFound):
        MemoryStore({"location": "mem://b"}).open()


def test_a_put_buffer_reused_by_the_caller_does_not_change_the_store() -> None:
    store = MemoryStore({"location": "mem://buffer"})
    store.create(CONFIG)
    buffer = bytearray(b"original")
    store.put(ResourceType.PACKFILE, resource_id(1), buffer)  # type: ignore[arg-type]
    buffer[:] = b"changed!"
    assert store.get(ResourceType.PACKFILE, resource_id(1)) == b"original"


def test_size_counts_config_and_resources() -> None:
    store = MemoryStore({"location": "mem://size"})
    store.create(CONFIG)
    store.put(ResourceType.PACKFILE, resource_id(1), b"x" * 100)
    store.put(ResourceType.LOCK, resource_id(2), b"y" * 5)
    assert store.size() == len(CONFIG) + 105
