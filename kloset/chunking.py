"""Content-defined chunking with FastCDC (pyfastcdc's compiled FastCDC 2020)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyfastcdc import FastCDC


@dataclass(frozen=True, slots=True)
class ChunkingParams:
    """FastCDC sizes: no chunk is shorter than ``min`` (but the last) or longer than ``max``; past
    ``normal`` bytes the cut condition loosens (pyfastcdc's avg_size; see docs/format.md)."""

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
        self._buf: bytearray | None = None

    def chunks(self, stream: BinaryIO) -> Iterator[memoryview]:
        """Yield the chunks of a stream as views into a buffer reused across calls.

        A view is valid until the next one is asked for. One buffer per chunker (that is, per worker
        thread) keeps a backup's memory flat: pyfastcdc's own stream reader allocates a fresh
        buffer of twice the maximum chunk size for every file."""
        size = self.params.max + self.params.max // 2
        if self._buf is None:
            self._buf = bytearray(size)
        buf = self._buf
        view = memoryview(buf)
        filled, eof = 0, False
        while True:
            while not eof and filled < size:
                n = stream.readinto(view[filled:])  # type: ignore[attr-defined]
                if not n:
                    eof = True
                else:
                    filled += n
            if not filled:
                return
            used = 0
            for c in self._cdc.cut_buf(view[:filled]):
                # A cut is final only when the chunker saw a whole max-size window after its start.
                if not eof and c.offset + self.params.max > filled:
                    break
                yield view[c.offset : c.offset + c.length]
                used = c.offset + c.length
            if eof and used >= filled:
                return
            buf[: filled - used] = buf[used:filled]
            filled -= used

    def chunks_of(self, data: bytes | memoryview) -> Iterator[memoryview]:
        mv = memoryview(data)
        for c in self._cdc.cut_buf(data):
            yield mv[c.offset : c.offset + c.length]
