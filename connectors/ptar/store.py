"""The ptar store: a whole kloset in one file, written once, then read by ranges.

``create`` starts the file under a temporary name beside the final one; resources put while it is open
are appended to it (see writing.py); ``close`` by the instance that created it seals it: the table of
contents and the footer are written, the file is flushed and linked to its final name, so a crash
never leaves a half-written ``.ptar`` there. A sealed file is read-only: ``get`` reads ranges with
``pread``, and puts and deletes raise Unsupported. Locks exist only while the file is written, in the
memory of the process writing it.

Instances of one process on the same path share the file being written; instances in other processes
(the engine's backup workers) join it through the temporary file. Byte layout: layout.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from kloset.errors import ConfigError, IntegrityError, KlosetError, NotFound, StoreNotFound, Unsupported
from kloset.objects import ResourceType
from kloset.storage import Mode, Storage

from . import layout
from .layout import Extent, Key
from .writing import Writing, oserror

_SCHEME = "ptar://"
T = TypeVar("T")
# Files being written by this process, by final path: every instance on that path uses the same one.
_writing: dict[str, Writing] = {}
_writing_lock = threading.Lock()


class Sealed:
    """A sealed ptar file, opened for range reads; thread-safe (``pread`` keeps no position)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as e:
            raise StoreNotFound(f"ptar: no store at {path}") from e
        except OSError as e:
            raise oserror(e, f"open {path}") from e
        try:
            size = os.fstat(self._fd).st_size
            tail = os.pread(self._fd, layout.FOOTER.size, max(0, size - layout.FOOTER.size))
            table_offset, table_length = layout.parse_footer(path, size, tail)
            head = os.pread(self._fd, layout.HEADER.size, 0)
            head += os.pread(self._fd, layout.parse_header(path, head, table_offset), layout.HEADER.size)
            table = os.pread(self._fd, table_length, table_offset)
            self.contents = layout.parse(path, head, table, tail)
            self.size = size
        except OSError as e:
            os.close(self._fd)
            raise oserror(e, f"open {path}") from e
        except BaseException:
            os.close(self._fd)
            raise

    def find(self, key: Key) -> Extent:
        found = self.contents.entries.get(key)
        if found is None:
            raise NotFound(f"ptar: {self.path}: no {key[0].name.lower()} {key[1].hex()[:16]}")
        return found

    def pread(self, length: int, offset: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        os.close(self._fd)


class PtarStore(Storage):
    """A store in one ``.ptar`` file: ``ptar:///abs/path/file.ptar``, or a bare path ending in ``.ptar``."""

    protocols = ("ptar",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        path = self.location.removeprefix(_SCHEME)
        if not path:
            raise ConfigError("ptar: the config has no 'location'")
        self.path = os.path.abspath(os.path.expanduser(path))
        self._lock = threading.Lock()
        self._writing: Writing | None = None  # the file being written, as this instance sees it
        self._joined = False  # this instance opened ``_writing`` itself, from another process's file
        self._sealed: Sealed | None = None

    def _source(self) -> Writing | Sealed:
        """What this instance reads and writes now: the file being written, or the sealed file."""
        with self._lock:
            if self._writing is not None and (self._joined or _writing.get(self.path) is self._writing):
                return self._writing
            if self._sealed is not None:
                return self._sealed
            shared = _writing.get(self.path)
            if shared is not None:
                self._writing = shared
                return shared
            if os.path.lexists(self.path):
                self._sealed = Sealed(self.path)
                return self._sealed
            joined = Writing.join(self.path)
            if joined is None:
                raise StoreNotFound(f"ptar: no store at {self.path}")
            self._writing, self._joined = joined, True
            return joined

    def _writable(self, action: str) -> Writing:
        source = self._source()
        if isinstance(source, Sealed):
            raise Unsupported(f"ptar: {self.path} is sealed and read-only: cannot {action}")
        return source

    def create(self, config: bytes) -> None:
        with _writing_lock:
            if self.path in _writing:
                raise ConfigError(f"ptar: {self.path} is being written already")
            writing = Writing.create(self.path, config)
            _writing[self.path] = writing
        with self._lock:
            self._writing = writing

    def open(self) -> bytes:
        source = self._source()
        return source.contents.config if isinstance(source, Sealed) else source.config()

    def mode(self) -> Mode:
        try:
            return Mode.READ if isinstance(self._source(), Sealed) else Mode.READ | Mode.WRITE
        except StoreNotFound:
            return Mode.READ | Mode.WRITE  # nothing there yet: create() may make it

    def list(self, rtype: ResourceType) -> list[bytes]:
        source = self._source()
        if isinstance(source, Sealed):
            return [rid for t, rid in source.contents.entries if t is rtype]
        return list(source.locks) if rtype is ResourceType.LOCK else source.ids(rtype)

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        layout.check_id(rid)
        writing = self._writable(f"put a {rtype.name.lower()}")
        if rtype is ResourceType.LOCK:
            if self._joined:
                # Backup workers never lock; a process that does is a second writer, whose lock the
                # writing process, which keeps locks in its memory, could not see.
                raise Unsupported(f"ptar: {self.path} is being written by another process")
            writing.locks[rid] = bytes(data)
        else:
            self._io(lambda: writing.put((rtype, rid), data), f"put {rid.hex()[:16]}")
        return len(data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        layout.check_id(rid)
        source = self._source()
        if rtype is ResourceType.LOCK:
            found = source.locks.get(rid) if isinstance(source, Writing) else None
            if found is None:
                raise NotFound(f"ptar: {self.path}: no lock {rid.hex()[:16]}")
            return found[offset:None if length is None else offset + length]
        base, size = source.find((rtype, rid))
        start = min(offset, size)
        end = size if length is None else min(size, offset + length)
        data = self._io(lambda: source.pread(end - start, base + start), f"get {rid.hex()[:16]}")
        if len(data) != end - start:
            raise IntegrityError(f"ptar: {self.path}: {rid.hex()[:16]} is cut short (the file is truncated)")
        return data

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        layout.check_id(rid)
        writing = self._writable(f"delete a {rtype.name.lower()}")
        if rtype is ResourceType.LOCK:
            writing.locks.pop(rid, None)
        else:
            self._io(lambda: writing.delete((rtype, rid)), f"delete {rid.hex()[:16]}")

    def size(self) -> int:
        source = self._source()
        return source.size if isinstance(source, Sealed) else source.size()

    def close(self) -> None:
        """Seal the file when this instance created it; else let go of what it holds open."""
        with self._lock:
            writing, sealed = self._writing, self._sealed
            self._sealed = None
        if sealed is not None:
            sealed.close()
        if writing is None:
            return
        if self._joined:
            writing.close()
        elif writing.created and _writing.get(self.path) is writing:
            self._io(writing.seal, f"seal {self.path}")
            with _writing_lock:
                _writing.pop(self.path, None)
            writing.close()
        with self._lock:
            self._writing, self._joined = None, False

    def _io(self, action: Callable[[], T], what: str) -> T:
        try:
            return action()
        except KlosetError:
            raise
        except OSError as e:
            raise oserror(e, what) from e
