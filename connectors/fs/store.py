"""The local filesystem store: one file per resource in a fixed directory layout.

Layout under the root::

    CONFIG                       the config bytes written once by create()
    packfiles/<2 hex>/<64 hex>   packfiles, bucketed by the first byte of their ID
    states/<2 hex>/<64 hex>      index deltas, bucketed likewise
    locks/<64 hex>               locks (few at a time, so not bucketed)

Every write goes to a ``.tmp-`` file in the destination directory, is fsynced, renamed into place and
the directory fsynced: a reader sees a whole resource or none, and a crash leaves at most a temp file,
which :meth:`FSStore.list` never returns. Config key ``fsync = "false"`` skips the fsyncs (for tests).
Files are made 0600 and directories 0700 (before the umask): a store belongs to its owner.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import threading
from collections import OrderedDict

from kloset.errors import ConfigError, KlosetError, NotFound, StoreNotFound, TransientError
from kloset.objects import ID_SIZE, ResourceType
from kloset.storage import Storage

_TYPE_DIRS = {ResourceType.PACKFILE: "packfiles", ResourceType.STATE: "states", ResourceType.LOCK: "locks"}
_BUCKETED = frozenset({ResourceType.PACKFILE, ResourceType.STATE})
TMP_PREFIX = ".tmp-"
_ID_NAME = re.compile(r"[0-9a-f]{64}\Z")
# A full disk may be freed and a flaky disk or network filesystem may recover, so these are worth a retry.
_TRANSIENT = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT,
                        errno.ESTALE})
# Longer ranged reads are clamped to the file size first, so pread never allocates a huge buffer.
_CLAMP = 1 << 20
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


def oserror(e: OSError, what: str) -> KlosetError:
    """Translate an OSError met while doing ``what`` into the kloset error tree."""
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"{what}: {e}")
    if e.errno in _TRANSIENT:
        return TransientError(f"{what}: {e}")
    return KlosetError(f"{what}: {e}")


def _sync_dir(path: str) -> None:
    fd = os.open(path, _DIR_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pread(fd: int, length: int, offset: int) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    parts, got = [data], len(data)  # the kernel may return less than asked: loop until EOF
    while got < length and (more := os.pread(fd, length - got, offset + got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


_OPEN_PACKS = 8  # per thread


class _PackHandles(threading.local):
    """Each thread's last few packfiles, kept open: a restore reads many small blobs from the same
    packs, and opening the pack for each read costs two system calls of three. Per thread, so that no
    descriptor is closed under a read. Packs are never rewritten in place; one that was deleted or
    replaced has no links left, which a cheap fstat sees."""

    def __init__(self, registry: list[OrderedDict[str, int]], lock: threading.Lock) -> None:
        self.fds: OrderedDict[str, int] = OrderedDict()
        with lock:
            registry.append(self.fds)


class FSStore(Storage):
    """A store in a local directory, or on any mounted filesystem with an atomic rename."""

    protocols = ("fs",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        path = self.location.removeprefix("fs://")
        if not path:
            raise ConfigError("fs store: the config has no 'location'")
        self.root = os.path.abspath(os.path.expanduser(path))
        self._sync = config.get("fsync", "true").strip().lower() != "false"
        self._config_path = os.path.join(self.root, "CONFIG")
        self._dirs = {t: os.path.join(self.root, d) for t, d in _TYPE_DIRS.items()}
        self._handles_lock = threading.Lock()
        self._all_handles: list[OrderedDict[str, int]] = []
        self._handles = _PackHandles(self._all_handles, self._handles_lock)

    def create(self, config: bytes) -> None:
        """Make the layout, then write CONFIG last: CONFIG is what marks the directory as a store.

        Raises ConfigError when the location already holds a store or anything else (a non-empty
        directory, a file), including when a concurrent create wins the race."""
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            if os.listdir(self.root):
                what = "a store" if os.path.exists(self._config_path) else "files but no store"
                raise ConfigError(f"{self.root} already holds {what}")
            for rtype, directory in self._dirs.items():
                os.mkdir(directory, 0o700)
                if rtype in _BUCKETED:
                    for bucket in range(256):
                        os.mkdir(f"{directory}/{bucket:02x}", 0o700)
                if self._sync:
                    _sync_dir(directory)
            self._write(self.root, "CONFIG", config, replace=False)
        except FileExistsError as e:
            raise ConfigError(f"{self.root} already exists and is not an empty directory") from e
        except OSError as e:
            raise oserror(e, f"create store {self.root}") from e

    def open(self) -> bytes:
        try:
            with open(self._config_path, "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError) as e:
            raise StoreNotFound(f"no store at {self.root}") from e
        except OSError as e:
            raise oserror(e, f"open store {self.root}") from e

    def list(self, rtype: ResourceType) -> list[bytes]:
        """IDs found on disk; temp files and any other stray names are skipped."""
        top = self._dirs[rtype]
        try:
            if rtype not in _BUCKETED:
                return [bytes.fromhex(n) for n in os.listdir(top) if _ID_NAME.match(n)]
            ids: list[bytes] = []
            with os.scandir(top) as buckets:
                for bucket in buckets:
                    if len(bucket.name) == 2 and bucket.is_dir():
                        # A name in the wrong bucket could never be read back, so it is not listed.
                        ids += [bytes.fromhex(n) for n in os.listdir(bucket.path)
                                if _ID_NAME.match(n) and n.startswith(bucket.name)]
            return ids
        except FileNotFoundError as e:
            raise StoreNotFound(f"no store at {self.root}") from e
        except OSError as e:
            raise oserror(e, f"list {_TYPE_DIRS[rtype]}") from e

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        directory, name = self._place(rtype, rid)
        try:
            self._write(directory, name, data, bucket=rtype in _BUCKETED, sync=self._durable(rtype))
        except OSError as e:
            raise oserror(e, f"put {_TYPE_DIRS[rtype]}/{name}") from e
        return len(data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        directory, name = self._place(rtype, rid)
        if rtype is ResourceType.PACKFILE and length is not None and length <= _CLAMP:
            try:
                return _pread(self._pack_fd(f"{directory}/{name}"), length, offset)
            except OSError as e:
                raise oserror(e, f"get {_TYPE_DIRS[rtype]}/{name}") from e
        try:
            fd = os.open(f"{directory}/{name}", os.O_RDONLY)
            try:
                if length is None or length > _CLAMP:
                    left = max(0, os.fstat(fd).st_size - offset)
                    length = left if length is None else min(length, left)
                return _pread(fd, length, offset)
            finally:
                os.close(fd)
        except OSError as e:
            raise oserror(e, f"get {_TYPE_DIRS[rtype]}/{name}") from e

    def _pack_fd(self, path: str) -> int:
        fds = self._handles.fds
        fd = fds.get(path)
        if fd is not None:
            if os.fstat(fd).st_nlink:
                fds.move_to_end(path)
                return fd
            os.close(fds.pop(path))  # deleted or replaced since: read what the path names now
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        fds[path] = fd
        if len(fds) > _OPEN_PACKS:
            os.close(fds.popitem(last=False)[1])
        return fd

    def close(self) -> None:
        with self._handles_lock:
            for fds in self._all_handles:
                while fds:
                    with contextlib.suppress(OSError):
                        os.close(fds.popitem()[1])

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        directory, name = self._place(rtype, rid)
        try:
            os.unlink(f"{directory}/{name}")
            if self._durable(rtype):
                _sync_dir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            raise oserror(e, f"delete {_TYPE_DIRS[rtype]}/{name}") from e

    def size(self) -> int:
        """Bytes in every file under the root, temp files included since they take space too."""
        try:
            return _tree_size(self.root)
        except FileNotFoundError as e:
            raise StoreNotFound(f"no store at {self.root}") from e
        except OSError as e:
            raise oserror(e, f"size of {self.root}") from e

    def _place(self, rtype: ResourceType, rid: bytes) -> tuple[str, str]:
        """The directory and file name of a resource."""
        if len(rid) != ID_SIZE:
            raise ValueError(f"a resource ID is {ID_SIZE} bytes, not {len(rid)}")
        name = rid.hex()
        if rtype in _BUCKETED:
            return f"{self._dirs[rtype]}/{name[:2]}", name
        return self._dirs[rtype], name

    def _durable(self, rtype: ResourceType) -> bool:
        # A lock need not outlive a crash of the machine: its holder is gone with it, and other
        # processes see the file through the page cache meanwhile. Skipping its fsyncs takes three
        # disk flushes off every backup.
        return self._sync and rtype is not ResourceType.LOCK

    def _write(self, directory: str, name: str, data: bytes | bytearray, *, bucket: bool = False,
               replace: bool = True, sync: bool | None = None) -> None:
        """Write ``directory/name`` atomically; with ``replace=False`` fail (FileExistsError) if it exists."""
        sync = self._sync if sync is None else sync
        tmp = f"{directory}/{TMP_PREFIX}{name}-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o600)
        except FileNotFoundError as e:
            if not bucket:
                raise StoreNotFound(f"no store at {self.root}") from e
            self._make_bucket(directory)
            fd = os.open(tmp, _WRITE_FLAGS, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            final = f"{directory}/{name}"
            if replace:
                os.replace(tmp, final)
            else:
                _link_new(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if sync:
            _sync_dir(directory)

    def _make_bucket(self, directory: str) -> None:
        # create() makes every bucket; this restores one lost on the way (say, a copy that drops empty
        # directories). mkdir without parents: a missing type directory means there is no store.
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            return
        except FileNotFoundError as e:
            raise StoreNotFound(f"no store at {self.root}") from e
        if self._sync:
            _sync_dir(os.path.dirname(directory))


def _link_new(tmp: str, final: str) -> None:
    """Move ``tmp`` to ``final`` unless ``final`` exists (FileExistsError): the no-clobber rename."""
    try:
        os.link(tmp, final)  # unlike rename, link never replaces: two racing creates cannot both win
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this filesystem (FAT, some network mounts): check, then rename.
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "File exists", final) from None
        os.replace(tmp, final)
    else:
        os.unlink(tmp)


def _tree_size(path: str) -> int:
    total = 0
    with os.scandir(path) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # deleted while we walk
                if entry.is_dir(follow_symlinks=False):
                    total += _tree_size(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
    return total
