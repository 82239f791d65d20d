"""The store connector interface: where a kloset keeps its config, packfiles, states and locks.

A store is a flat key-value space of (resource type, 32-byte ID) -> immutable bytes, plus one config
blob written once at creation. Writes of a resource are atomic: a reader sees all of it or nothing.
Connectors implement the abstract primitives; retries, caching and concurrency limits wrap a store
from the outside and never live in a connector.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod

from .objects import ResourceType


class Mode(enum.IntFlag):
    """Numbers are the plugin protocol's ModeResponse values."""

    WRITE = 2
    READ = 4


class Storage(ABC):
    """A store connector. ``config`` is the flat connector config; its ``location`` is the store's URL.

    Errors: a missing store or resource raises :class:`kloset.errors.NotFound` (``StoreNotFound`` for
    the store itself); a failure worth retrying raises :class:`kloset.errors.TransientError`; any
    other foreign exception is translated at the connector's edge.
    """

    #: The URL schemes this connector serves.
    protocols: tuple[str, ...] = ()

    def __init__(self, config: dict[str, str]) -> None:
        self.config = dict(config)
        self.location = config.get("location", "")

    @abstractmethod
    def create(self, config: bytes) -> None:
        """Create an empty store holding ``config``. Raises ConfigError if a store already exists."""

    @abstractmethod
    def open(self) -> bytes:
        """Return the config written by :meth:`create`. Raises StoreNotFound when there is none."""

    @abstractmethod
    def list(self, rtype: ResourceType) -> list[bytes]:
        """IDs of every resource of that type, in no particular order."""

    @abstractmethod
    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        """Store a resource atomically (all or nothing); return the bytes written. Idempotent."""

    @abstractmethod
    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        """Read a resource, or the byte range [offset, offset+length). Raises NotFound if absent.

        A range that runs past the end returns the bytes that exist (callers check lengths)."""

    @abstractmethod
    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        """Remove a resource. Idempotent: deleting a missing resource is not an error."""

    def ping(self) -> None:
        """Raise if the store cannot be reached; the default opens it."""
        self.open()

    def mode(self) -> Mode:
        return Mode.READ | Mode.WRITE

    def size(self) -> int:
        """Bytes used by the store, or -1 when the connector cannot tell cheaply."""
        return -1

    def close(self) -> None:
        """Release connections; the default has nothing to release."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
