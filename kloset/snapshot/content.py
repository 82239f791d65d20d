"""Reading one file's content into chunks: the per-file work of a backup, done by reader threads or worker processes."""

from __future__ import annotations

import functools
import mimetypes
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import filetype

from ..buffers import PartsReader
from ..chunking import Chunker, ChunkingParams
from ..hashing import blob_mac, mac
from ..objects import BlobType, Record
from ..repository.transaction import Transaction

if TYPE_CHECKING:
    import numpy as np

    from .tap import Tap

# Entropy is estimated from up to this many bytes at the start of each chunk: enough for a stable
# figure, and it keeps the histogram off the data path's critical cost.
ENTROPY_SAMPLE = 16 * 1024
_HEAD = 8192
# Prefix of the MAC input of a multi-chunk object ID: no blob type byte has this value.
OBJECT_DOMAIN = b"\x80kloset object\0"


@dataclass(slots=True)
class Content:
    object_id: bytes | None = None
    chunks: list[tuple[bytes, int]] = field(default_factory=list)  # (chunk ID, size)
    size: int = 0
    content_type: str = ""
    entropy: float = 0.0
    error: str | None = None
    results: list[tuple[bytes, bytes]] = field(default_factory=list)  # analyzer results: (ID, plaintext)


def object_id(mac_key: bytes, chunk_ids: list[bytes]) -> bytes | None:
    """A file's content ID: its only chunk's ID, or the MAC of its chunk IDs; None when empty."""
    if not chunk_ids:
        return None
    if len(chunk_ids) == 1:
        return chunk_ids[0]
    return mac(mac_key, OBJECT_DOMAIN + b"".join(chunk_ids))


# Byte prefixes of binary content in which no magic number was found: most files of a tree share a
# few formats without one (compiled bytecode, object files), and asking every matcher again for each of
# them costs more than reading the file. A matcher that looks past the prefix (tar's header at offset
# 257) could in principle be missed for a file sharing such a prefix; the extension still applies.
_NO_MAGIC: set[bytes] = set()
_NO_MAGIC_MAX = 4096
_BY_EXTENSION: dict[str, str | None] = {}


def content_type(path: str, head: bytes) -> str:
    """Magic bytes first for binary content, then the file name's extension."""
    binary = b"\0" in head[:1024]
    if binary:
        prefix = head[:16]
        if prefix not in _NO_MAGIC:
            kind = filetype.guess_mime(head)
            if kind:
                return str(kind)
            if len(_NO_MAGIC) < _NO_MAGIC_MAX:
                _NO_MAGIC.add(prefix)
    name = path.rpartition("/")[2]
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    guess = _BY_EXTENSION.get(ext, "")
    if guess == "":
        guess = _BY_EXTENSION[ext] = mimetypes.guess_type(f"x.{ext}" if ext else "x", strict=False)[0]
    if guess:
        return guess
    if binary:
        return "application/octet-stream"
    return "text/plain" if head else ""


@functools.cache
def _n_log2_n() -> np.ndarray:
    """n·log2(n) for every count one sample can hold (0 for 0)."""
    import numpy as np

    n = np.arange(ENTROPY_SAMPLE + 1, dtype=np.float64)
    n[0] = 1.0
    return n * np.log2(n)


def entropy(hist: np.ndarray) -> float:
    """Shannon entropy in bits per byte of a byte histogram: log2(T) - Σ n·log2(n) / T."""
    import numpy as np

    total = int(hist.sum())
    if not total:
        return 0.0
    if total <= ENTROPY_SAMPLE:  # the common case, one sample: the terms come from a table
        terms = float(_n_log2_n()[hist].sum())
    else:
        nz = hist[hist > 0].astype(np.float64)
        terms = float((nz * np.log2(nz)).sum())
    return max(0.0, float(np.log2(total)) - terms / total)


def _read_up_to(f: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the stream (a raw read may return less)."""
    data = f.read(n)
    if len(data) >= n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n and (more := f.read(n - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class ContentReader:
    """Chunks, identifies and stores file content through a transaction."""

    def __init__(self, txn: Transaction, params: ChunkingParams, tap: Tap | None = None) -> None:
        self.txn = txn
        self.params = params
        self.tap = tap
        self.mac_key = txn.repo.keyring.mac_key
        self._local = threading.local()

    def _chunker(self) -> Chunker:
        c = getattr(self._local, "chunker", None)
        if c is None:
            c = self._local.chunker = Chunker(self.params)
        return c

    def read(self, rec: Record) -> Content:
        out = Content()
        assert rec.open is not None
        try:
            with rec.open() as f:
                held = f.whole() if isinstance(f, PartsReader) else None
                expected = rec.info.size if rec.info is not None else 0
                if held is not None:  # in memory already (a plugin's content, in a worker): used where it lies
                    if len(held) < self.params.min:
                        self._store(out, rec.pathname, [held] if held else [], whole=True)
                    else:
                        self._store(out, rec.pathname, self._chunker().chunks_of(held))
                elif expected < self.params.min:
                    # Read the size stat gave, plus one byte to notice a file that grew meanwhile.
                    # Larger files stream through the chunker's reused buffer: a fresh buffer per
                    # file would be paged in anew each time, which costs more than the reading.
                    data = _read_up_to(f, expected + 1)
                    if len(data) > expected:
                        data += f.read()
                    if len(data) < self.params.min:
                        self._store(out, rec.pathname, [data] if data else [], whole=True)
                    else:
                        self._store(out, rec.pathname, self._chunker().chunks_of(data))
                else:
                    self._store(out, rec.pathname, self._chunker().chunks(f))
        except OSError as e:
            return Content(error=f"{e.strerror or e}")
        return out

    def _store(self, out: Content, path: str, pieces: Iterable[bytes | memoryview], whole: bool = False) -> None:
        """Chunk, identify and store content; ``whole`` when ``pieces`` is the content in one piece."""
        txn, key, chunks = self.txn, self.mac_key, out.chunks
        import numpy as np  # loaded with the first content read: an unchanged re-backup reads none

        hist: np.ndarray | None = None
        tap, analyzers = self.tap, []
        for piece in pieces:
            cid = blob_mac(key, BlobType.CHUNK, piece)
            if not chunks:
                out.content_type = content_type(path, bytes(piece[:_HEAD]))
                if tap is not None:
                    # Content of one piece has its object ID already: analyzers that know it are not fed.
                    analyzers = tap.start(txn, out.content_type, path, cid if whole else None)
            if analyzers:
                tap.feed(analyzers, out.size, piece)  # type: ignore[union-attr]
            if txn.reserve(cid):
                txn.add(BlobType.CHUNK, cid, piece)
            h = np.bincount(np.frombuffer(piece[:ENTROPY_SAMPLE], dtype=np.uint8), minlength=256)
            hist = h if hist is None else hist + h
            chunks.append((cid, len(piece)))
            out.size += len(piece)
        out.object_id = object_id(key, [c for c, _ in chunks])
        if analyzers and out.object_id is not None:
            out.results = tap.finish(txn, out.object_id, analyzers, claimed=whole)  # type: ignore[union-attr]
        if hist is not None:
            out.entropy = entropy(hist)
