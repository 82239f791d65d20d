"""A local copy of the packfile ranges read for metadata blobs, so that reading a remote store's
snapshot headers and index pieces a second time costs no request.

Packs are immutable, so an entry, keyed by (pack ID, offset, length), never goes stale: the only bound
is on the bytes kept, the entries least recently read going first. Entries hold the sealed bytes as
the store has them (encrypted, for an encrypted store), preceded by a BLAKE2b digest of them: an
entry of the wrong length or digest (a torn write, a damaged disk) is dropped and the range read from
the store again, never reported as damage of the store.

File content (``BlobType.CHUNK``) is never kept here: it is large, and read once per restore. Stores
whose data is on local disk already (``fs``, ``ptar``) are not cached unless asked to.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from ..errors import ConfigError
from ..location import scheme_of

#: Schemes whose store is read from local disk: a second copy would save no request.
LOCAL_SCHEMES = frozenset({"fs", "ptar"})
#: The default bound of one store's cache, in MiB (connector key ``cache_size``; 0 turns it off).
DEFAULT_MIB = 512

_DIGEST = 16
#: What the cache is trimmed to once it outgrows its bound, so that trims are rare.
_TRIM_TO = 0.75


def cache_bytes(config: dict[str, str]) -> int:
    """The bytes the metadata cache of the store ``config`` names may keep; 0 when it keeps none."""
    default = 0 if scheme_of(config.get("location", "")) in LOCAL_SCHEMES else DEFAULT_MIB
    text = config.get("cache_size", "").strip()
    try:
        mib = float(text) if text else default
    except ValueError as e:
        raise ConfigError(f"cache_size={text!r}: expected a size in MiB") from e
    return max(0, int(mib * (1 << 20)))


class PackCache:
    """Metadata ranges of one store's packs, in files under ``folder``. Thread-safe; several processes
    may share the folder (writes are atomic renames, and each trim looks at what is there)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._used: int | None = None  # bytes on disk, counted at the first write

    def _path(self, pack_id: bytes, offset: int, length: int) -> Path:
        return self.folder / f"{pack_id.hex()}.{offset}.{length}"

    def get(self, pack_id: bytes, offset: int, length: int) -> bytes | None:
        """The range's bytes, or None when they are not kept (or were damaged, and are dropped)."""
        path = self._path(pack_id, offset, length)
        try:
            with open(path, "rb") as f:
                digest = f.read(_DIGEST)
                data = f.read()
        except OSError:
            return None
        if len(data) == length and hashlib.blake2b(data, digest_size=_DIGEST).digest() == digest:
            # A hit makes the entry the most recently used: the trim goes by modification time.
            with contextlib.suppress(OSError):
                os.utime(path)
            return data
        self.drop(pack_id, offset, length)
        return None

    def put(self, pack_id: bytes, offset: int, length: int, data: bytes) -> None:
        """Keep a range read from the store. A cache that cannot be written only costs speed."""
        size = _DIGEST + len(data)
        if size > self.max_bytes:
            return
        path = self._path(pack_id, offset, length)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        with contextlib.suppress(OSError):
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.blake2b(data, digest_size=_DIGEST).digest())
                f.write(data)
            os.replace(tmp, path)
            with self._lock:
                self._used = self._count() if self._used is None else self._used + size
                if self._used > self.max_bytes:
                    self._trim()

    def drop(self, pack_id: bytes, offset: int, length: int) -> None:
        with contextlib.suppress(OSError):
            self._path(pack_id, offset, length).unlink()

    def forget(self, pack_ids: set[bytes] | None = None) -> None:
        """Drop every entry of these packs (all entries when None): packs deleted from the store."""
        names = None if pack_ids is None else {p.hex() for p in pack_ids}
        with self._lock:
            for e in self._entries():
                if names is None or e.name.split(".", 1)[0] in names:
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)
            self._used = None

    def clear(self) -> None:
        self.forget(None)

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.folder) as it:
                return [e for e in it if not e.name.startswith(".")]
        except FileNotFoundError:
            return []

    def _count(self) -> int:
        total = 0
        for e in self._entries():
            with contextlib.suppress(OSError):
                total += e.stat().st_size
        return total

    def _trim(self) -> None:
        """Drop the least recently read entries until the cache is back to a part of its bound."""
        sized = []
        for e in self._entries():
            with contextlib.suppress(OSError):
                st = e.stat()
                sized.append((st.st_mtime_ns, st.st_size, e.path))
        sized.sort()
        total = sum(size for _, size, _ in sized)
        goal = self.max_bytes * _TRIM_TO
        for _, size, path in sized:
            if total <= goal:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
                total -= size
        self._used = total
