"""A ptar file while it is written: a temporary file beside the final name, and a journal of its puts.

The process that created the file holds an exclusive ``flock`` on the temporary file until it seals it.
Other processes (the engine's backup workers, rebuilt from the store's config alone) join it: they
append resources to the same temporary file and record them in the same journal. Both are opened with
``O_APPEND``, so each resource lands whole at the end of the file whichever process writes it, and its
offset is where the writer's own file position ends, less its length. A journal record is one write of
49 bytes (type, ID, offset, length; a deletion has offset and length all ones), appended only once its
resource is written, so a record never names bytes that are not there; replaying the journal gives every
process the same view of what the file holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from kloset.connectors.fs.store import oserror as fs_oserror
from kloset.errors import ConfigError, KlosetError, NotFound, TransientError

from . import layout
from .layout import Extent, Key

_GONE = (1 << 64) - 1  # offset and length of a deletion's journal record
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC


def oserror(e: OSError, what: str) -> KlosetError:
    """An OSError met while doing ``what`` in the kloset error tree, as the fs store tells them."""
    return fs_oserror(e, f"ptar: {what}")


def temporary_names(path: str) -> tuple[str, str]:
    """The temporary file and the journal of the ptar file ``path`` while it is written."""
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}.writing"), os.path.join(head, f".{name}.journal")


class Writing:
    """The temporary file and journal of a ptar being written; thread-safe."""

    def __init__(self, path: str, data_fd: int, journal_fd: int, created: bool) -> None:
        self.path = path
        self.created = created  # this process holds the flock and is the one to seal
        self._data = data_fd
        self._journal = journal_fd
        self._lock = threading.Lock()
        self._entries: dict[Key, Extent] = {}
        self._read = 0  # journal bytes replayed so far
        #: Locks are the engine's, for the time the file is written: kept here, never written to it.
        self.locks: dict[bytes, bytes] = {}

    @classmethod
    def create(cls, path: str, config: bytes) -> Writing:
        """Start the file; ConfigError when ``path`` exists or another writer holds it."""
        data_name, journal_name = temporary_names(path)
        if os.path.lexists(path):
            raise ConfigError(f"ptar: {path} already exists")
        try:
            fd = os.open(data_name, _APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise oserror(e, f"create {path}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(fd)
            raise ConfigError(f"ptar: {path} is being written by another store") from e
        try:
            # What a crashed writer left under these names is discarded: nobody holds it any more.
            os.ftruncate(fd, 0)
            os.write(fd, layout.header(config))
            journal = os.open(journal_name, _APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:
            os.close(fd)
            raise oserror(e, f"create {path}") from e
        return cls(path, fd, journal, created=True)

    @classmethod
    def join(cls, path: str) -> Writing | None:
        """The file another process is writing at ``path``, or None when nobody is."""
        data_name, journal_name = temporary_names(path)
        try:
            fd = os.open(data_name, _APPEND)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise oserror(e, f"open {path}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return cls(path, fd, os.open(journal_name, _APPEND), created=False)
            except OSError as e:
                os.close(fd)
                raise oserror(e, f"open {path}") from e
        os.close(fd)  # left by a writer that died before sealing: not a store
        return None

    def config(self) -> bytes:
        head = os.pread(self._data, layout.HEADER.size, 0)
        length = layout.HEADER.unpack(head)[2]
        return os.pread(self._data, length, layout.HEADER.size)

    def _replay(self) -> None:
        """Apply the journal records written since the last replay (by any process); holds the lock."""
        size = os.fstat(self._journal).st_size
        whole = (size - self._read) // layout.ENTRY.size * layout.ENTRY.size
        if not whole:
            return
        records = os.pread(self._journal, whole, self._read)
        self._read += len(records)
        for t, rid, off, n in layout.ENTRY.iter_unpack(records):
            key = (layout.ResourceType(t), rid)
            if off == _GONE:
                self._entries.pop(key, None)
            else:
                self._entries[key] = (off, n)

    def _record(self, key: Key, off: int, n: int) -> None:
        os.write(self._journal, layout.ENTRY.pack(int(key[0]), key[1], off, n))

    def put(self, key: Key, data: bytes | bytearray) -> None:
        with self._lock:
            self._replay()
            if key in self._entries:
                return  # resources never change: the one there is this one
            n = os.write(self._data, data)
            end = os.lseek(self._data, 0, os.SEEK_CUR)
            if n != len(data):
                # The part written stays, named by nothing: a later append goes after it.
                raise TransientError(f"ptar: {self.path}: short write ({n} of {len(data)} bytes)")
            self._record(key, end - n, n)
            self._entries[key] = (end - n, n)

    def delete(self, key: Key) -> None:
        with self._lock:
            self._replay()
            if self._entries.pop(key, None) is not None:
                self._record(key, _GONE, _GONE)

    def find(self, key: Key) -> Extent:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self._replay()
                found = self._entries.get(key)
        if found is None:
            raise NotFound(f"ptar: {self.path}: no {key[0].name.lower()} {key[1].hex()[:16]}")
        return found

    def pread(self, length: int, offset: int) -> bytes:
        return os.pread(self._data, length, offset)

    def ids(self, rtype: layout.ResourceType) -> list[bytes]:
        with self._lock:
            self._replay()
            return [rid for t, rid in self._entries if t is rtype]

    def size(self) -> int:
        return os.fstat(self._data).st_size

    def seal(self) -> None:
        """Write the table and footer, flush, and give the file its final name; never replaces a file."""
        data_name, journal_name = temporary_names(self.path)
        with self._lock:
            self._replay()
            head = os.pread(self._data, layout.HEADER.size, 0)
            head += os.pread(self._data, layout.HEADER.unpack(head)[2], layout.HEADER.size)
            table = layout.table(self._entries)
            offset = os.fstat(self._data).st_size
            tail = table + layout.footer(offset, table, head)
            if os.write(self._data, tail) != len(tail):
                raise TransientError(f"ptar: {self.path}: short write of the table")
            os.fsync(self._data)
            _link_new(data_name, self.path)
            directory = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(journal_name)

    def close(self) -> None:
        for fd in (self._data, self._journal):
            with contextlib.suppress(OSError):
                os.close(fd)


def _link_new(tmp: str, final: str) -> None:
    """Move ``tmp`` to ``final`` unless something took that name meanwhile (ConfigError)."""
    try:
        os.link(tmp, final)  # unlike rename, never replaces
    except FileExistsError as e:
        raise ConfigError(f"ptar: {final} appeared while it was written; the store is left in {tmp}") from e
    except OSError:
        if os.path.lexists(final):  # no hard links on this file system: check, then rename
            raise ConfigError(f"ptar: {final} appeared while it was written; the store is left in {tmp}") from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)
