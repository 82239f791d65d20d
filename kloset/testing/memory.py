"""The in-memory reference store: the Storage contract with nothing in the way.

Instances configured with the same non-empty ``location`` (``mem://name``) share one store, as two
clients of one bucket would, through a module-level registry; :func:`clear_memory_stores` empties it.
An instance with no name (``""`` or ``mem://``) gets a private store of its own.
"""

from __future__ import annotations

import threading

from ..errors import ConfigError, NotFound, StoreNotFound
from ..objects import ID_SIZE, ResourceType
from ..storage import Storage


class _Space:
    """One store's contents; every access holds ``lock``."""

    __slots__ = ("config", "lock", "resources")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: bytes | None = None
        self.resources: dict[ResourceType, dict[bytes, bytes]] = {t: {} for t in ResourceType}


_registry: dict[str, _Space] = {}
_registry_lock = threading.Lock()


def clear_memory_stores(location: str | None = None) -> None:
    """Delete every shared in-memory store, or only the one at ``location``.

    Instances already made see their store as never created; new instances start from nothing."""
    with _registry_lock:
        spaces = list(_registry.values()) if location is None else [_registry.get(location)]
        if location is None:
            _registry.clear()
        else:
            _registry.pop(location, None)
    for space in spaces:
        if space is not None:
            with space.lock:
                space.config = None
                space.resources = {t: {} for t in ResourceType}


class MemoryStore(Storage):
    """A store held in a dict; thread-safe. ``size()`` counts the config and resource bytes."""

    protocols = ("mem",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        if self.location.removeprefix("mem://"):
            with _registry_lock:
                self._space = _registry.setdefault(self.location, _Space())
        else:
            self._space = _Space()

    def _resources(self, rtype: ResourceType) -> dict[bytes, bytes]:
        """The resources of one type; the caller holds the lock. Raises StoreNotFound before create."""
        if self._space.config is None:
            raise StoreNotFound(f"no store at {self.location or 'mem://'}")
        return self._space.resources[rtype]

    def create(self, config: bytes) -> None:
        with self._space.lock:
            if self._space.config is not None:
                raise ConfigError(f"a store already exists at {self.location}")
            self._space.config = bytes(config)

    def open(self) -> bytes:
        with self._space.lock:
            if self._space.config is None:
                raise StoreNotFound(f"no store at {self.location or 'mem://'}")
            return self._space.config

    def list(self, rtype: ResourceType) -> list[bytes]:
        with self._space.lock:
            return [*self._resources(rtype)]

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        _check_id(rid)
        # bytes() copies a bytearray or memoryview, so the caller may reuse its buffer afterwards.
        data = bytes(data)
        with self._space.lock:
            self._resources(rtype)[bytes(rid)] = data
        return len(data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        _check_id(rid)
        with self._space.lock:
            data = self._resources(rtype).get(bytes(rid))
        if data is None:
            raise NotFound(f"{ResourceType(rtype).name.lower()} {rid.hex()} not found")
        if offset == 0 and length is None:
            return data
        return data[offset : None if length is None else offset + length]

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        _check_id(rid)
        with self._space.lock:
            self._space.resources[rtype].pop(bytes(rid), None)

    def size(self) -> int:
        with self._space.lock:
            if self._space.config is None:
                raise StoreNotFound(f"no store at {self.location or 'mem://'}")
            stored = sum(len(d) for r in self._space.resources.values() for d in r.values())
            return len(self._space.config) + stored


def _check_id(rid: bytes) -> None:
    if len(rid) != ID_SIZE:
        raise ValueError(f"a resource ID is {ID_SIZE} bytes, not {len(rid)}")
