"""States (index deltas) and the merged blob index with its local cache.

Each transaction writes one immutable state resource listing the packs it wrote, the blobs in them,
and the snapshots it deleted. The merged index of all states is kept in a local cache file, sealed
with the store's keys, together with the list of state IDs it covers; on open, states that the cache
lacks are merged in, and a cache that covers a state the store no longer has is rebuilt.

    state := seal_resource(ad = "kloset state" 0x00 || state ID, zstd(msgpack {
                 "version": 1, "time": unix ns, "nonce": 16 random bytes,
                 "packs": [[pack ID, wrapped subkey, [[type, blob ID, offset, length], ...]], ...],
                 "deleted": [snapshot ID, ...],
                 "condemned": [[pack ID, unix ns], ...]  (maintenance's states only)}))
    state ID := MAC(msgpack bytes)
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import zstandard

from ..encryption import Keyring
from ..errors import IntegrityError, NotFound
from ..hashing import mac
from ..objects import BlobType, ResourceType
from ..packfile import BlobTable
from ..storage import Storage

STATE_VERSION = 1
CACHE_VERSION = 2
_RECORD = struct.Struct("<B32sIQI")


def state_ad(state_id: bytes) -> bytes:
    return b"kloset state\0" + state_id


@dataclass
class PackEntry:
    pack_id: bytes
    wrapped_key: bytes
    blobs: BlobTable


@dataclass
class StateDelta:
    packs: list[PackEntry] = field(default_factory=list)
    deleted: list[bytes] = field(default_factory=list)
    time_ns: int = 0
    #: Written by maintenance only (None elsewhere, and then left out of the state): pack ID -> when
    #: maintenance first found the pack holding nothing a snapshot uses (or no state listing it), in ns.
    condemned: dict[bytes, int] | None = None

    def encode(self, keyring: Keyring) -> tuple[bytes, bytes]:
        """(state ID, sealed bytes)."""
        # Packed entry by entry into one buffer: the same bytes as packb of the nested lists, without
        # building a list per blob (a million of them at commit time was the peak of a large backup).
        packer = msgpack.Packer()
        buf = bytearray(packer.pack_map_header(5 if self.condemned is None else 6))
        buf += packer.pack("version") + packer.pack(STATE_VERSION)
        buf += packer.pack("time") + packer.pack(self.time_ns or time.time_ns())
        buf += packer.pack("nonce") + packer.pack(os.urandom(16))
        buf += packer.pack("packs") + packer.pack_array_header(len(self.packs))
        for p in self.packs:
            buf += packer.pack_array_header(3) + packer.pack(p.pack_id) + packer.pack(p.wrapped_key)
            buf += packer.pack_array_header(len(p.blobs))
            for row in p.blobs.rows():
                buf += packer.pack(row)
        buf += packer.pack("deleted") + packer.pack(self.deleted)
        if self.condemned is not None:
            buf += packer.pack("condemned") + packer.pack([[p, t] for p, t in sorted(self.condemned.items())])
        sid = mac(keyring.mac_key, buf)
        return sid, keyring.seal_resource(state_ad(sid), zstandard.ZstdCompressor(level=3).compress(buf))

    @classmethod
    def decode(cls, keyring: Keyring, sid: bytes, sealed: bytes) -> StateDelta:
        try:
            raw = zstandard.ZstdDecompressor().decompress(keyring.open_resource(state_ad(sid), sealed))
        except zstandard.ZstdError as e:
            raise IntegrityError(f"state {sid.hex()[:16]} does not decompress") from e
        except IntegrityError as e:
            raise IntegrityError(f"state {sid.hex()[:16]}: {e}") from e
        if mac(keyring.mac_key, raw) != sid:
            raise IntegrityError(f"state {sid.hex()[:16]} fails its MAC check")
        try:
            d = msgpack.unpackb(raw)
            if d["version"] != STATE_VERSION:
                raise IntegrityError(f"state version {d['version']} is not supported")
            condemned = d.get("condemned")
            return cls(
                packs=[PackEntry(bytes(p), bytes(k), _table(blobs)) for p, k, blobs in d["packs"]],
                deleted=[bytes(x) for x in d["deleted"]], time_ns=int(d["time"]),
                condemned=None if condemned is None else {bytes(p): int(t) for p, t in condemned},
            )
        except (KeyError, TypeError, ValueError, struct.error) as e:
            raise IntegrityError(f"state {sid.hex()[:16]} is malformed: {e}") from e


def _table(rows: list[list[object]]) -> BlobTable:
    table = BlobTable()
    for t, i, o, n in rows:
        if not isinstance(i, bytes) or len(i) != 32:
            raise ValueError("a blob ID is not 32 bytes")
        table.append(int(t), i, int(o), int(n))  # type: ignore[call-overload]
    return table


def _entry(t: int, no: int, off: int, n: int) -> int:
    # One int per blob instead of a tuple of four: a third of the memory, which matters at millions of
    # blobs. Layout: type in bits 0-7, pack number 8-39, offset 40-79, length from bit 80.
    return t | no << 8 | off << 40 | n << 80


def _fields(v: int) -> tuple[int, int, int, int]:
    return v & 0xFF, (v >> 8) & 0xFFFFFFFF, (v >> 40) & 0xFFFFFFFFFF, v >> 80


class Index:
    """Every blob of the store: ID -> (type, pack number, offset, length), packed in one int."""

    def __init__(self) -> None:
        self.states: set[bytes] = set()
        self.deleted: set[bytes] = set()
        self.packs: list[tuple[bytes, bytes]] = []
        self.pack_no: dict[bytes, int] = {}
        # Loaded from the cache, the blobs of file content (all but a few of a large store's) stay packed
        # records until something asks for them: opening a snapshot and listing its folders needs only
        # the metadata blobs, which are a dict from the start (see load).
        self._blobs: dict[bytes, int] | None = {}
        self._meta: dict[bytes, int] = {}
        self._packed: bytes = b""
        # Kept beside the blobs, since finding them there means a pass over millions of entries,
        # and every look at the store's snapshots (and their analyses) asks for them.
        self._snapshots: dict[bytes, None] = {}
        self._analyses: dict[bytes, None] = {}

    @property
    def blobs(self) -> dict[bytes, int]:
        """Blob ID -> its entry (see :func:`_entry`), for every blob of the store."""
        if self._blobs is None:
            blobs = self._meta
            blobs.update({i: _entry(t, no, off, n) for t, i, no, off, n in _RECORD.iter_unpack(self._packed)})
            self._blobs, self._meta, self._packed = blobs, {}, b""
        return self._blobs

    @blobs.setter
    def blobs(self, value: dict[bytes, int]) -> None:
        self._blobs, self._meta, self._packed = value, {}, b""

    def merge(self, sid: bytes, delta: StateDelta) -> None:
        self.states.add(sid)
        self.deleted.update(delta.deleted)
        for p in delta.packs:
            no = self.pack_no.get(p.pack_id)
            if no is None:
                no = self.pack_no[p.pack_id] = len(self.packs)
                self.packs.append((p.pack_id, p.wrapped_key))
            for t, i, off, n in p.blobs.rows():
                if t != BlobType.PADDING:
                    self.blobs.setdefault(i, _entry(t, no, off, n))
                    if t == BlobType.SNAPSHOT:
                        self._snapshots[i] = None
                    elif t == BlobType.ANALYSIS:
                        self._analyses[i] = None

    def snapshot_ids(self) -> list[bytes]:
        return [i for i in self._snapshots if i not in self.deleted]

    def analysis_ids(self) -> list[bytes]:
        """Every analysis, including those of deleted snapshots (whose headers name them)."""
        return list(self._analyses)

    def entries(self) -> Iterator[tuple[bytes, int, int, int, int]]:
        """(ID, type, pack number, offset, length) of every blob."""
        for i, v in self.blobs.items():
            yield (i, *_fields(v))

    def assume(self, ids: Iterable[bytes], blob_type: BlobType) -> None:
        """Know blobs by ID only (a worker that must skip content the store has, not read it)."""
        if blob_type == BlobType.SNAPSHOT:
            ids = list(ids)
            self._snapshots.update(dict.fromkeys(ids))
        self.blobs.update(dict.fromkeys(ids, _entry(blob_type, 0, 0, 0)))

    def locate(self, blob_id: bytes) -> tuple[int, bytes, bytes, int, int]:
        """(type, pack ID, wrapped subkey, offset, length) of a blob; NotFound when absent."""
        try:
            v = self._meta.get(blob_id) if self._blobs is None else None
            t, no, off, n = _fields(self.blobs[blob_id] if v is None else v)
        except KeyError:
            raise NotFound(f"blob {blob_id.hex()[:16]} is not in the store index") from None
        pid, wk = self.packs[no]
        return t, pid, wk, off, n

    # -- cache file ---------------------------------------------------------------------------------

    def dump(self) -> bytes:
        return b"".join(self.dump_parts())

    def dump_parts(self, records_per_part: int = 1 << 16) -> Iterator[bytes | bytearray]:
        """The bytes of :meth:`dump` in parts, so that a large index is never copied whole."""
        packer = msgpack.Packer()
        data = int(BlobType.CHUNK)
        meta = {i: v for i, v in self.blobs.items() if v & 0xFF != data}
        head = {"version": CACHE_VERSION, "states": sorted(self.states), "deleted": sorted(self.deleted),
                "packs": self.packs, "meta": len(meta)}
        yield (packer.pack_map_header(len(head) + 1) + b"".join(packer.pack(k) + packer.pack(v)
                                                                 for k, v in head.items())
               + packer.pack("blobs") + _bin_header(_RECORD.size * len(self.blobs)))
        part, k = bytearray(_RECORD.size * records_per_part), 0
        chunks = ((i, v) for i, v in self.blobs.items() if v & 0xFF == data)
        for i, v in itertools.chain(meta.items(), chunks):
            t, no, off, n = _fields(v)
            _RECORD.pack_into(part, k * _RECORD.size, t, i, no, off, n)
            k += 1
            if k == records_per_part:
                yield part
                part, k = bytearray(_RECORD.size * records_per_part), 0
        yield part[: k * _RECORD.size]

    @classmethod
    def load(cls, raw: bytes) -> Index:
        d = msgpack.unpackb(raw)
        if d["version"] != CACHE_VERSION:
            raise IntegrityError("cache version mismatch")
        idx = cls()
        idx.states = {bytes(s) for s in d["states"]}
        idx.deleted = {bytes(s) for s in d["deleted"]}
        idx.packs = [(bytes(p), bytes(k)) for p, k in d["packs"]]
        idx.pack_no = {p: i for i, (p, _) in enumerate(idx.packs)}
        records, cut = d["blobs"], d["meta"] * _RECORD.size
        if len(records) % _RECORD.size or cut > len(records):
            raise IntegrityError("index cache records are truncated")
        idx._meta = {i: _entry(t, no, off, n) for t, i, no, off, n in _RECORD.iter_unpack(records[:cut])}
        idx._blobs, idx._packed = None, records[cut:]
        idx._snapshots = {i: None for i, v in idx._meta.items() if v & 0xFF == BlobType.SNAPSHOT}
        idx._analyses = {i: None for i, v in idx._meta.items() if v & 0xFF == BlobType.ANALYSIS}
        return idx


def _bin_header(n: int) -> bytes:
    # msgpack's Packer has no bin header of its own (it packs whole objects only).
    if n < 1 << 8:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 1 << 16:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


_CACHE_AD = b"kloset local index cache"


class IndexCache:
    """Loads, refreshes and saves the merged index of one store."""

    def __init__(self, storage: Storage, keyring: Keyring, cache_dir: Path | None) -> None:
        self.storage = storage
        self.keyring = keyring
        self.path = cache_dir / "index" if cache_dir is not None else None

    def _read_cache(self) -> Index | None:
        if self.path is None:
            return None
        try:
            sealed = self.path.read_bytes()
            return Index.load(zstandard.ZstdDecompressor().decompress(
                self.keyring.open_resource(_CACHE_AD, sealed)))
        except (OSError, IntegrityError, KeyError, ValueError, TypeError, zstandard.ZstdError,
                msgpack.UnpackException):
            return None  # a missing or unreadable cache is rebuilt from the store

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def save(self, index: Index) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        parts = index.dump_parts()
        head = next(parts)
        z = zstandard.ZstdCompressor(level=1).compressobj(size=len(head) + _RECORD.size * len(index.blobs))
        compressed = [z.compress(head), *(z.compress(p) for p in parts), z.flush()]
        data = self.keyring.seal_resource(_CACHE_AD, b"".join(compressed))
        del compressed
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

    def load(self, current: Index | None = None) -> Index:
        """The up-to-date index: ``current`` (or the cache) plus every state it lacks.

        An index that covers a state the store no longer has is rebuilt from the store."""
        on_store = set(self.storage.list(ResourceType.STATE))
        index = current if current is not None else self._read_cache()
        if index is not None and index.states == on_store:
            return index
        if index is None or not index.states <= on_store:
            index = Index()
        missing = sorted(on_store - index.states)
        if missing:
            for sid, delta in zip(missing, self.fetch(missing), strict=True):
                index.merge(sid, delta)
            self.save(index)
        return index

    def fetch(self, sids: Iterable[bytes]) -> list[StateDelta]:
        def one(sid: bytes) -> StateDelta:
            return StateDelta.decode(self.keyring, sid, self.storage.get(ResourceType.STATE, sid))

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, sids))
