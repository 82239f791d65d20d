"""A local cache of the file rows of each source's latest snapshot, for the next backup to compare with.

An unchanged re-backup spends most of its time turning the parent's Parquet pieces back into Python
rows. The rows of every piece a backup writes or takes over are kept here instead, keyed by piece ID
(content-addressed, so an entry never goes stale) and sealed with the store's keys like the index
cache: a file that was tampered with or is damaged fails to open and is ignored, and the piece is
decoded from the store as before. Only the latest snapshot of each source is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from pathlib import Path
from typing import Any

import zstandard

from ..encryption import Keyring
from ..errors import IntegrityError

Row = tuple[Any, ...]
_AD = b"kloset local rows cache\x00"


class RowCache:
    def __init__(self, cache_dir: Path | None, keyring: Keyring, source: tuple[str, str, str]) -> None:
        self._keyring = keyring
        # One folder per source (importer type, origin, root): each keeps its own latest snapshot.
        name = hashlib.blake2b("\x00".join(source).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
        self._dir = cache_dir / "rows" / name if cache_dir is not None else None
        self._kept: set[str] = set()

    def get(self, piece_id: bytes) -> list[Row] | None:
        if self._dir is None:
            return None
        try:
            sealed = (self._dir / piece_id.hex()).read_bytes()
            rows = marshal.loads(zstandard.ZstdDecompressor().decompress(
                self._keyring.open_resource(_AD + piece_id, sealed)))
        except (OSError, IntegrityError, zstandard.ZstdError, ValueError, EOFError, TypeError):
            return None
        return rows if isinstance(rows, list) else None

    def put(self, piece_id: bytes, rows: list[Row], *, known: bool = False) -> None:
        """Keep ``rows`` as the rows of ``piece_id``; ``known`` says the entry was just read from here."""
        if self._dir is None:
            return
        name = piece_id.hex()
        self._kept.add(name)
        if known:
            return
        path = self._dir / name
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs speed
            self._dir.mkdir(parents=True, exist_ok=True)
            data = self._keyring.seal_resource(_AD + piece_id, zstandard.ZstdCompressor(level=1).compress(
                marshal.dumps(rows)))
            tmp = path.with_name(f".{name}.{os.getpid()}.{os.urandom(4).hex()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)

    def retain(self) -> None:
        """Drop every entry but the pieces put since this cache was opened (after a committed backup)."""
        if self._dir is None:
            return
        with contextlib.suppress(OSError):
            for entry in os.scandir(self._dir):
                if entry.name not in self._kept and not entry.name.startswith("."):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
