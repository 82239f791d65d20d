"""Packfiles: many sealed blobs in one store resource.

    pack   := blob* index footer
    blob   := seal(pack subkey, ad = type || ID, compression byte || payload)
    index  := seal(pack subkey, ad = b"kloset pack index", msgpack [[type, ID, offset, length], ...])
    footer := "KLOSETPK" | u32 version | u64 index offset | u32 index length | 40-byte wrapped subkey

All integers are little-endian; the wrapped subkey is zeros in a plaintext store. The pack's ID is the
keyed BLAKE3 MAC of all its bytes. The in-pack index is redundant with the store's states: it lets a
store be re-indexed from its packs alone.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgpack

from .compression import decompress
from .encryption import WRAPPED_KEY, Sealer
from .errors import IntegrityError
from .hashing import mac
from .objects import BlobType

MAGIC = b"KLOSETPK"
VERSION = 1
FOOTER = struct.Struct("<8sIQI40s")
INDEX_AD = b"kloset pack index"


def blob_ad(blob_type: int, blob_id: bytes) -> bytes:
    return bytes((blob_type,)) + blob_id


@dataclass(frozen=True, slots=True)
class BlobLocation:
    type: int
    id: bytes
    offset: int
    length: int


_ROW = struct.Struct("<B32sQI")


class BlobTable:
    """The blobs of one pack as fixed-width rows in one buffer.

    A backup of a million small files holds a million of these until its state is written; as
    objects they cost three times the memory (and a pickle three times the size, for workers).
    """

    __slots__ = ("_rows",)

    def __init__(self, locations: Iterable[BlobLocation] = ()) -> None:
        self._rows = bytearray()
        for b in locations:
            self.append(b.type, b.id, b.offset, b.length)

    def append(self, blob_type: int, blob_id: bytes, offset: int, length: int) -> None:
        self._rows += _ROW.pack(blob_type, blob_id, offset, length)

    def __len__(self) -> int:
        return len(self._rows) // _ROW.size

    def __iter__(self) -> Iterator[BlobLocation]:
        return (BlobLocation(*r) for r in _ROW.iter_unpack(self._rows))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BlobTable) and self._rows == other._rows

    __hash__ = None  # type: ignore[assignment]

    def rows(self) -> Iterator[tuple[int, bytes, int, int]]:
        """(type, ID, offset, length) of each blob, without building objects."""
        return _ROW.iter_unpack(self._rows)

    def last_length(self) -> int:
        return int.from_bytes(self._rows[-4:], "little")


class PackWriter:
    """Builds one packfile in memory. Not thread-safe: each writer has one owner."""

    def __init__(self, sealer: Sealer, wrapped_key: bytes) -> None:
        self._sealer = sealer
        self.wrapped_key = wrapped_key
        self._buf = bytearray()
        self.blobs = BlobTable()

    def __len__(self) -> int:
        return len(self._buf)

    def add(self, blob_type: int, blob_id: bytes, compression: int, payload: bytes | memoryview) -> None:
        sealed = self._sealer.seal(blob_ad(blob_type, blob_id), b"".join((bytes((compression,)), payload)))
        self.blobs.append(blob_type, blob_id, len(self._buf), len(sealed))
        self._buf += sealed

    def finish(self, mac_key: bytes, padding: bool = True) -> tuple[bytes, bytearray]:
        """Seal the index, append the footer; return (pack ID, pack bytes)."""
        if padding:
            # A little random padding so pack sizes do not reveal blob sizes exactly.
            pad = os.urandom(int.from_bytes(os.urandom(1)) + 1)
            pad_id = os.urandom(32)
            self.add(BlobType.PADDING, pad_id, 0, pad)
        index = msgpack.packb([list(r) for r in self.blobs.rows()])
        sealed_index = self._sealer.seal(INDEX_AD, index)
        offset = len(self._buf)
        self._buf += sealed_index
        self._buf += FOOTER.pack(MAGIC, VERSION, offset, len(sealed_index),
                                 self.wrapped_key.ljust(WRAPPED_KEY, b"\0"))
        # The buffer itself is handed out (no copy): the writer is done with it.
        data, self._buf = self._buf, bytearray()
        return mac(mac_key, data), data


def read_footer(data: bytes) -> tuple[int, int, bytes]:
    """(index offset, index length, wrapped subkey) from a pack's last bytes."""
    if len(data) < FOOTER.size:
        raise IntegrityError("packfile is truncated (no footer)")
    magic, version, offset, length, wrapped = FOOTER.unpack(data[-FOOTER.size :])
    if magic != MAGIC:
        raise IntegrityError("packfile footer has a bad magic")
    if version != VERSION:
        raise IntegrityError(f"packfile version {version} is not supported")
    return offset, length, wrapped


def read_index(data: bytes, sealer: Sealer) -> list[BlobLocation]:
    """The blobs listed in a whole pack's own index."""
    offset, length, _ = read_footer(data)
    if offset + length + FOOTER.size != len(data):
        raise IntegrityError("packfile index lies outside the pack")
    raw = sealer.open(INDEX_AD, memoryview(data)[offset : offset + length])
    try:
        rows = msgpack.unpackb(raw)
        return [BlobLocation(int(t), bytes(i), int(o), int(n)) for t, i, o, n in rows]
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise IntegrityError(f"packfile index is malformed: {e}") from e


def unseal_blob(sealer: Sealer, blob_type: int, blob_id: bytes, sealed: bytes | memoryview) -> tuple[int, bytes]:
    """(compression byte, payload) of one blob read from a pack: its tag checked, its payload as stored."""
    raw = sealer.open(blob_ad(blob_type, blob_id), sealed)
    if not raw:
        raise IntegrityError("empty blob")
    return raw[0], raw[1:]


def open_blob(sealer: Sealer, blob_type: int, blob_id: bytes, sealed: bytes | memoryview) -> bytes:
    """Unseal and decompress one blob read from a pack."""
    algo, payload = unseal_blob(sealer, blob_type, blob_id, sealed)
    return decompress(algo, payload, 1 << 31)
