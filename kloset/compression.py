"""zstd compression of blobs; a blob is stored raw when compression does not pay."""

from __future__ import annotations

import threading

import zstandard

from .errors import IntegrityError

NONE = 0
ZSTD = 1
LEVEL = 3
# Keep the compressed form only when it saves at least this fraction.
_MIN_SAVING = 1 / 32

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = zstandard.ZstdCompressor(level=LEVEL, write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "d", None)
    if d is None:
        d = _local.d = zstandard.ZstdDecompressor()
    return d


def compress(data: bytes | memoryview) -> tuple[int, bytes | memoryview]:
    """Return (algorithm, payload): zstd when it saves space, else the data unchanged."""
    if len(data) < 64:
        return NONE, data
    out = _compressor().compress(data)
    if len(out) <= len(data) * (1 - _MIN_SAVING):
        return ZSTD, out
    return NONE, data


def decompress(algorithm: int, payload: bytes, size: int) -> bytes:
    if algorithm == NONE:
        return payload
    if algorithm != ZSTD:
        raise IntegrityError(f"unknown compression {algorithm}")
    try:
        return _decompressor().decompress(payload, max_output_size=size)
    except zstandard.ZstdError as e:
        raise IntegrityError(f"cannot decompress blob: {e}") from e
