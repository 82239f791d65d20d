"""Content-defined chunking with FastCDC (pyfastcdc's compiled FastCDC 2020)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyfastcdc import FastCDC


@dataclass(frozen=True, slots=True)
class ChunkingParams:
    """FastCDC sizes. ``normal`` is the expected size above ``min`` (pyfastcdc's avg_size)."""

    algorithm: str = "fastcdc2020"
    min: int = 512 * 1024
    normal: int = 1024 * 1024
    max: int = 8 * 1024 * 1024

    def to_dict(self) -> dict[str, object]:
        return {"algorithm": self.algorithm, "min": self.min, "normal": self.normal, "max": self.max}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ChunkingParams:
        return cls(str(d["algorithm"]), int(d["min"]), int(d["normal"]), int(d["max"]))  # type: ignore[call-overload]


class Chunker:
    """Cuts streams into chunks. Not thread-safe: one per worker."""

    def __init__(self, params: ChunkingParams) -> None:
        if params.algorithm != "fastcdc2020":
            raise ValueError(f"unknown chunking algorithm {params.algorithm!r}")
        self.params = params
        self._cdc = FastCDC(params.normal, min_size=params.min, max_size=params.max)

    def chunks(self, stream: BinaryIO) -> Iterator[bytes]:
        """Yield the chunks of a stream as independent bytes objects."""
        for c in self._cdc.cut_stream(stream):
            # pyfastcdc reuses its buffer between chunks: copy out.
            yield bytes(c.data)

    def chunks_of(self, data: bytes) -> Iterator[memoryview]:
        mv = memoryview(data)
        for c in self._cdc.cut_buf(data):
            yield mv[c.offset : c.offset + c.length]
