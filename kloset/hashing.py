"""Keyed BLAKE3 MACs: every blob's ID is the MAC of its type and plaintext under the store's MAC key."""

from __future__ import annotations

import blake3

from .objects import BlobType

# Above this size the hash is worth spreading over the cores (blake3 releases the GIL either way).
_THREADED_ABOVE = 1 << 20


def blob_mac(key: bytes, blob_type: BlobType, data: bytes | memoryview) -> bytes:
    """ID of a blob: keyed BLAKE3 over one type byte followed by the plaintext."""
    h = blake3.blake3(key=key, max_threads=blake3.blake3.AUTO if len(data) > _THREADED_ABOVE else 1)
    h.update(bytes((int(blob_type),)))
    h.update(data)
    return h.digest()


def mac(key: bytes, data: bytes | bytearray | memoryview) -> bytes:
    """Keyed BLAKE3 of raw bytes (packs, states, config)."""
    return blake3.blake3(data, key=key, max_threads=blake3.blake3.AUTO if len(data) > _THREADED_ABOVE else 1).digest()


def derive_key(context: str, material: bytes) -> bytes:
    """A 32-byte subkey, BLAKE3's key-derivation mode."""
    return blake3.blake3(material, derive_key_context=context).digest()
