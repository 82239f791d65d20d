"""Reading one file's content into chunks: the per-file work of a backup, done in worker threads."""

from __future__ import annotations

import mimetypes
import threading
from dataclasses import dataclass, field

import filetype
import numpy as np

from ..chunking import Chunker, ChunkingParams
from ..hashing import blob_mac, mac
from ..objects import BlobType, Record
from ..repository.transaction import Transaction

# Entropy is estimated from up to this many bytes at the start of each chunk: enough for a stable
# figure, and it keeps the histogram off the data path's critical cost.
ENTROPY_SAMPLE = 64 * 1024
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


def object_id(mac_key: bytes, chunk_ids: list[bytes]) -> bytes | None:
    """A file's content ID: its only chunk's ID, or the MAC of its chunk IDs; None when empty."""
    if not chunk_ids:
        return None
    if len(chunk_ids) == 1:
        return chunk_ids[0]
    return mac(mac_key, OBJECT_DOMAIN + b"".join(chunk_ids))


def content_type(path: str, head: bytes) -> str:
    """Magic bytes first for binary content, then the file name's extension."""
    if b"\0" in head[:1024]:
        kind = filetype.guess_mime(head)
        if kind:
            return str(kind)
    guess, _ = mimetypes.guess_type(path, strict=False)
    if guess:
        return guess
    if b"\0" in head[:1024]:
        return "application/octet-stream"
    return "text/plain" if head else ""


def entropy(hist: np.ndarray) -> float:
    """Shannon entropy in bits per byte of a byte histogram."""
    total = int(hist.sum())
    if not total:
        return 0.0
    p = hist[hist > 0] / total
    return float(-(p * np.log2(p)).sum())


class ContentReader:
    """Chunks, identifies and stores file content through a transaction."""

    def __init__(self, txn: Transaction, params: ChunkingParams) -> None:
        self.txn = txn
        self.params = params
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
                expected = rec.info.size if rec.info is not None else 0
                if expected < self.params.min:
                    data = f.read(self.params.min)
                    rest = f.read() if len(data) == self.params.min else b""
                    pieces = list(self._chunker().chunks_of(data + rest)) if rest else [data] if data else []
                    self._store(out, rec.pathname, pieces)
                else:
                    self._store(out, rec.pathname, self._chunker().chunks(f))
        except OSError as e:
            return Content(error=f"{e.strerror or e}")
        return out

    def _store(self, out: Content, path: str, pieces: object) -> None:
        hist = np.zeros(256, dtype=np.int64)
        ids: list[bytes] = []
        for piece in pieces:  # type: ignore[attr-defined]
            n = len(piece)
            if not ids:
                out.content_type = content_type(path, bytes(piece[:_HEAD]))
            cid = blob_mac(self.mac_key, BlobType.CHUNK, piece)
            if self.txn.reserve(cid):
                self.txn.add(BlobType.CHUNK, cid, piece)
            hist += np.bincount(np.frombuffer(piece[:ENTROPY_SAMPLE], dtype=np.uint8), minlength=256)
            ids.append(cid)
            out.chunks.append((cid, n))
            out.size += n
        out.object_id = object_id(self.mac_key, ids)
        out.entropy = entropy(hist)
