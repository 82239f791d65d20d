"""An open store: its config and keys, the merged index, blob reads, transactions and locks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import platformdirs

from ..chunking import ChunkingParams
from ..encryption import KDFParams, Keyring, Sealer
from ..errors import IntegrityError, NotFound
from ..hashing import blob_mac
from ..objects import BlobType, ResourceType
from ..packfile import open_blob
from ..storage import Storage
from .config import StoreConfig
from .locks import Lock
from .packcache import PackCache, cache_bytes
from .state import Index, IndexCache, StateDelta
from .transaction import Transaction


def default_cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("kloset"))


class Repository:
    """A store opened with its keys. Thread-safe for reads; writes go through transactions."""

    def __init__(self, storage: Storage, config: StoreConfig, keyring: Keyring,
                 cache_root: Path | None = None, use_cache: bool = True) -> None:
        self.storage = storage
        self.config = config
        self.keyring = keyring
        root = cache_root if cache_root is not None else default_cache_root()
        self.cache_dir: Path | None = root / config.store_id.hex() if use_cache else None
        self._cache = IndexCache(storage, keyring, self.cache_dir)
        # Metadata ranges of packs kept locally (see packcache): the blob type is known here only, and the
        # folder only once the store's ID is, so the cache hooks in here rather than wrap the storage.
        budget = cache_bytes(storage.config) if self.cache_dir is not None else 0
        self._packs = PackCache(self.cache_dir / "packs", budget) if self.cache_dir is not None and budget else None
        self._index: Index | None = None
        self._sealers: dict[bytes, Sealer] = {}
        self._lock = threading.Lock()
        #: Small metadata blobs as their readers decoded them, by blob ID: blobs never change, so an
        #: entry stays right for as long as the blob is in the index.
        self.decoded: dict[bytes, Any] = {}

    # -- lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def create(cls, storage: Storage, passphrase: str | None, *, chunking: ChunkingParams | None = None,
               kdf: KDFParams | None = None, pack_max_size: int | None = None,
               cache_root: Path | None = None) -> Repository:
        kwargs = {} if pack_max_size is None else {"pack_max_size": pack_max_size}
        config, keyring = StoreConfig.new(passphrase, chunking=chunking, kdf=kdf, **kwargs)
        storage.create(config.serialize())
        return cls(storage, config, keyring, cache_root)

    @classmethod
    def open(cls, storage: Storage, passphrase: str | None, *, cache_root: Path | None = None) -> Repository:
        config = StoreConfig.parse(storage.open())
        return cls(storage, config, config.unlock(passphrase), cache_root)

    def close(self) -> None:
        self.storage.close()

    # -- index --------------------------------------------------------------------------------------

    @property
    def index(self) -> Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._cache.load()
        return self._index

    def refresh(self) -> None:
        """Merge states written by others since the index was loaded (one listing when there are none)."""
        with self._lock:
            self._index = self._cache.load(self._index)

    def rebuild_cache(self) -> None:
        """Drop this machine's caches of the store (the index and the metadata packs) and build the index
        again from the store's states: the way out of a cache that is lost, damaged or suspected."""
        with self._lock:
            self._cache.discard()
            if self._packs is not None:
                self._packs.clear()
            self.decoded.clear()
            self._index = self._cache.load()

    def read_states(self, sids: list[bytes]) -> list[StateDelta]:
        """The states of these IDs, read from the store (not the cache) and checked."""
        return self._cache.fetch(sids)

    def forget_packs(self, pack_ids: set[bytes]) -> None:
        """Drop the locally kept ranges of packs deleted from the store."""
        if self._packs is not None and pack_ids:
            self._packs.forget(pack_ids)

    def _merged(self, sid: bytes, delta: StateDelta) -> None:
        """Called by a transaction after its state is written."""
        self.index.merge(sid, delta)
        self._cache.save(self.index)

    def has_blob(self, blob_id: bytes) -> bool:
        return blob_id in self.index.blobs

    def snapshot_ids(self) -> list[bytes]:
        return self.index.snapshot_ids()

    # -- reads --------------------------------------------------------------------------------------

    def sealer(self, wrapped: bytes) -> Sealer:
        s = self._sealers.get(wrapped)
        if s is None:
            s = self._sealers[wrapped] = self.keyring.sealer(wrapped)
        return s

    def get_blob(self, blob_type: BlobType, blob_id: bytes, *, verify: bool = False) -> bytes:
        """A blob's plaintext. IntegrityError when its tag fails; NotFound when the index lacks it."""
        t, pack_id, wrapped, offset, length = self.index.locate(blob_id)
        if t != blob_type:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is a {BlobType(t).name}, not a {blob_type.name}")
        packs = self._packs if t != BlobType.CHUNK else None
        if packs is not None and (cached := packs.get(pack_id, offset, length)) is not None:
            try:
                return self.open_sealed(blob_type, blob_id, wrapped, pack_id, cached, verify)
            except IntegrityError:
                # The cache checks its own entries; one that passes and still fails the tag was replaced
                # by someone: the store decides.
                packs.drop(pack_id, offset, length)
        sealed = self._read_pack(pack_id, offset, length)
        data = self.open_sealed(blob_type, blob_id, wrapped, pack_id, sealed, verify)
        if packs is not None:
            packs.put(pack_id, offset, length, sealed)  # only once its tag verified
        return data

    def _read_pack(self, pack_id: bytes, offset: int, length: int) -> bytes:
        try:
            sealed = self.storage.get(ResourceType.PACKFILE, pack_id, offset, length)
        except NotFound as e:
            raise IntegrityError(f"packfile {pack_id.hex()[:16]} is missing") from e
        if len(sealed) != length:
            raise IntegrityError(f"packfile {pack_id.hex()[:16]} is truncated")
        return sealed

    def open_sealed(self, blob_type: BlobType, blob_id: bytes, wrapped: bytes, pack_id: bytes,
                    sealed: bytes | memoryview, verify: bool) -> bytes:
        """The plaintext of a blob from its sealed bytes as read from its pack; IntegrityError naming both
        when its tag (or, with ``verify``, its ID) does not check."""
        try:
            data = open_blob(self.sealer(wrapped), blob_type, blob_id, sealed)
            if verify and blob_mac(self.keyring.mac_key, blob_type, data) != blob_id:
                raise IntegrityError("content does not match its ID")
        except IntegrityError as e:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} in packfile {pack_id.hex()[:16]}: {e}") from e
        return data

    # -- writes -------------------------------------------------------------------------------------

    def transaction(self) -> Transaction:
        return Transaction(self)

    def lock(self, exclusive: bool = False) -> Lock:
        return Lock(self.storage, self.keyring, exclusive)
