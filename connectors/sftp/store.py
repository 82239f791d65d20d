"""A store on an SFTP server, in the fs store's layout (see kloset.connectors.fs.store)::

    CONFIG                       the config bytes written once by create()
    packfiles/<2 hex>/<64 hex>   packfiles, bucketed by the first byte of their ID (a bucket is made
                                 by the first put into it)
    states/<2 hex>/<64 hex>      index deltas, bucketed likewise
    locks/<64 hex>               locks

Every write goes to a ``.tmp-`` name in the destination directory, then the posix-rename extension
moves it into place, replacing whatever was there: a reader sees a whole resource or none. A writer
killed half way leaves a temporary file, which :meth:`SFTPStore.list` never returns (only names of
exactly 64 hex digits are listed). Directories are made 0700, which keeps the files in them private
(files take the server's umask: one chmod less per put, a round trip saved).
"""

from __future__ import annotations

import contextlib
import errno
import re
import secrets
import stat
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import paramiko

from kloset.connectors.fs.store import TMP_PREFIX
from kloset.errors import ConfigError, NotFound, StoreNotFound
from kloset.objects import ID_SIZE, ResourceType
from kloset.storage import Storage

from .session import Session, makedirs, read_range

_TYPE_DIRS = {ResourceType.PACKFILE: "packfiles", ResourceType.STATE: "states", ResourceType.LOCK: "locks"}
_BUCKETED = frozenset({ResourceType.PACKFILE, ResourceType.STATE})
_ID_NAME = re.compile(r"[0-9a-f]{64}\Z")
_LISTERS = 8


class SFTPStore(Storage):
    """A store in a directory of an SFTP server; every method is safe from several threads."""

    protocols = ("sftp",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._session = Session(config)
        self._root: str | None = None

    @property
    def root(self) -> str:
        """The store's absolute path on the server."""
        if self._root is None:
            self._root = self._session.resolve(self._session.target.path).rstrip("/") or "/"
        return self._root

    def create(self, config: bytes) -> None:
        """Make the layout, then write CONFIG last: CONFIG is what marks the directory as a store.
        Raises ConfigError when the location holds anything already."""
        root = self.root

        def create(sftp: paramiko.SFTPClient) -> None:
            makedirs(sftp, root, 0o700)
            if sftp.listdir(root):
                what = "a store" if _exists(sftp, f"{root}/CONFIG") else "files but no store"
                raise ConfigError(f"sftp: {self._session.where}:{root} already holds {what}")
            for name in _TYPE_DIRS.values():
                sftp.mkdir(f"{root}/{name}", 0o700)
            try:
                self._write(sftp, root, "CONFIG", config, replace=False)
            except OSError as e:
                if Session.lost(sftp) or not _exists(sftp, f"{root}/CONFIG"):
                    raise
                raise ConfigError(f"sftp: {self._session.where}:{root}: another create won the race") from e

        self._session.call(create, f"create store {root}", retry=False)

    def open(self) -> bytes:
        path = f"{self.root}/CONFIG"
        with self._in_store():
            return self._session.call(lambda sftp: _read(sftp, path, 0, None), f"open store {self.root}")

    def list(self, rtype: ResourceType) -> list[bytes]:
        top, what = f"{self.root}/{_TYPE_DIRS[rtype]}", f"list {_TYPE_DIRS[rtype]}"
        with self._in_store():
            if rtype not in _BUCKETED:
                return self._session.call(lambda sftp: _ids(sftp.listdir(top), ""), what)
            buckets = [a.filename for a in self._session.call(lambda sftp: sftp.listdir_attr(top), what)
                       if len(a.filename) == 2 and stat.S_ISDIR(a.st_mode or 0)]

        def bucket(name: str) -> list[bytes]:
            # A bucket that vanished meanwhile (deleted by hand) holds nothing to list.
            with contextlib.suppress(NotFound):
                return self._session.call(lambda sftp: _ids(sftp.listdir(f"{top}/{name}"), name), what)
            return []

        # Each listing is several round trips: buckets are listed side by side, on channels of their own.
        with ThreadPoolExecutor(_LISTERS) as pool:
            return [rid for ids in pool.map(bucket, buckets) for rid in ids]

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        directory, name = self._place(rtype, rid)

        def put(sftp: paramiko.SFTPClient) -> None:
            try:
                self._write(sftp, directory, name, data)
            except FileNotFoundError:
                if rtype not in _BUCKETED:
                    raise
                # Buckets are made by the first put into them (a store is created with none, which
                # saves 512 round trips). Without parents: a missing type directory means no store.
                _mkdir_if_missing(sftp, directory)
                self._write(sftp, directory, name, data)

        with self._in_store():
            self._session.call(put, f"put {_TYPE_DIRS[rtype]}/{name}")
        return len(data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        directory, name = self._place(rtype, rid)
        return self._session.call(lambda sftp: _read(sftp, f"{directory}/{name}", offset, length),
                                  f"get {_TYPE_DIRS[rtype]}/{name}")

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        directory, name = self._place(rtype, rid)

        def delete(sftp: paramiko.SFTPClient) -> None:
            try:
                sftp.remove(f"{directory}/{name}")
            except FileNotFoundError:
                return

        self._session.call(delete, f"delete {_TYPE_DIRS[rtype]}/{name}")

    def size(self) -> int:
        """Bytes in every file of the store, temporary files included since they take space too."""
        root = self.root

        def size(sftp: paramiko.SFTPClient) -> int:
            total, stack = 0, [root]
            while stack:
                directory = stack.pop()
                for entry in sftp.listdir_attr(directory):
                    if stat.S_ISDIR(entry.st_mode or 0):
                        stack.append(f"{directory}/{entry.filename}")
                    else:
                        total += entry.st_size or 0
            return total

        with self._in_store():
            return self._session.call(size, f"size of {root}")

    def close(self) -> None:
        self._session.close()

    @contextlib.contextmanager
    def _in_store(self) -> Iterator[None]:
        """Where a missing file or directory means that there is no store."""
        try:
            yield
        except NotFound as e:
            raise StoreNotFound(f"sftp: no store at {self._session.where}:{self.root}") from e

    def _place(self, rtype: ResourceType, rid: bytes) -> tuple[str, str]:
        if len(rid) != ID_SIZE:
            raise ValueError(f"a resource ID is {ID_SIZE} bytes, not {len(rid)}")
        name = rid.hex()
        top = f"{self.root}/{_TYPE_DIRS[rtype]}"
        return (f"{top}/{name[:2]}", name) if rtype in _BUCKETED else (top, name)

    def _write(self, sftp: paramiko.SFTPClient, directory: str, name: str, data: bytes | bytearray, *,
               replace: bool = True) -> None:
        """Write ``directory/name`` through a temporary name and posix-rename it into place; with
        ``replace=False`` the plain SFTP rename, which fails when the name exists, so that of two racing
        creates one wins."""
        tmp = f"{directory}/{TMP_PREFIX}{name}-{secrets.token_hex(8)}"
        f = sftp.open(tmp, "wbx")
        try:
            try:
                f.set_pipelined(True)  # no wait for each 32 KiB request's answer
                f.write(bytes(data) if isinstance(data, bytearray) else data)
            finally:
                f.close()
            (sftp.posix_rename if replace else sftp.rename)(tmp, f"{directory}/{name}")
        except BaseException:
            # When the connection is gone too, what is left is a temporary file, which is never listed.
            with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                sftp.remove(tmp)
            raise


def _read(sftp: paramiko.SFTPClient, path: str, offset: int, length: int | None) -> bytes:
    if length is None:
        with sftp.open(path, "rb") as f:
            return read_range(f, offset, f.stat().st_size or 0)
    # A range of a pack, most often one of many that a restore reads from it: the file is kept open on
    # this channel, so a read costs one round trip rather than three (open, read, close). Resources
    # never change once written, so an open file stays right; one replaced or removed since still
    # reads its own bytes, which were the same. A range past the end reads what there is.
    files = _open_files(sftp)
    f, size = files.pop(path, (None, 0))
    try:
        if f is None:
            f = sftp.open(path, "rb")
            size = f.stat().st_size or 0  # paramiko waits forever on a read past the end
        data = read_range(f, offset, min(size, offset + length))
    except BaseException:
        if f is not None:
            f.close()
        raise
    files[path] = (f, size)  # the most recently used last
    while len(files) > _OPEN_PER_CHANNEL:
        files.pop(next(iter(files)))[0].close()
    return data


#: Files kept open for ranged reads, per channel.
_OPEN_PER_CHANNEL = 4
_files_lock = threading.Lock()
_files: weakref.WeakKeyDictionary[paramiko.SFTPClient, dict[str, tuple[paramiko.SFTPFile, int]]] = \
    weakref.WeakKeyDictionary()


def _open_files(sftp: paramiko.SFTPClient) -> dict[str, tuple[paramiko.SFTPFile, int]]:
    """The files open on ``sftp``'s channel with their sizes, least recently read first. A channel is lent
    to one thread at a time, so only the table of channels needs the lock."""
    with _files_lock:
        return _files.setdefault(sftp, {})


def _ids(names: list[str], bucket: str) -> list[bytes]:
    """The IDs among a directory's names. A name in the wrong bucket could never be read back, so it is
    not listed; nor is any temporary file."""
    return [bytes.fromhex(n) for n in names if _ID_NAME.match(n) and n.startswith(bucket)]


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _mkdir_if_missing(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.mkdir(path, 0o700)
    except OSError as e:
        if not _exists(sftp, path):
            raise FileNotFoundError(errno.ENOENT, str(e), path) from e
