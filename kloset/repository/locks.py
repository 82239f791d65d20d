"""Store locks: shared for writers that only add (backup, rm), exclusive for maintenance.

A lock is a sealed LOCK resource with a random ID holding who took it and when. Taking a lock writes it
first and then looks at the others, so two takers that race both see each other. A lock older than
STALE_AFTER is ignored (its process is presumed dead); a holder refreshes its lock well before that. A
lock taken on this very host by a process that no longer exists is dead at once, and removed, as restic
does: a run killed here must not hold the store for ten minutes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from types import TracebackType

import msgpack

from ..encryption import Keyring
from ..errors import IntegrityError, KlosetError, LockError, NotFound
from ..objects import ResourceType
from ..storage import Storage

STALE_AFTER = 600.0
REFRESH_EVERY = 120.0


def _ad(lock_id: bytes) -> bytes:
    return b"kloset lock\0" + lock_id


def _dead_here(hostname: object, pid: object) -> bool:
    """Whether a lock's holder was a process of this host that is gone. A process that exists (even a
    later one that got the same number) or cannot be asked about counts as alive."""
    if hostname != socket.gethostname() or not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, under another user
    return False


class Lock:
    def __init__(self, storage: Storage, keyring: Keyring, exclusive: bool) -> None:
        self.storage = storage
        self.keyring = keyring
        self.exclusive = exclusive
        self.lock_id = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> bytes:
        lid = os.urandom(32)
        body = msgpack.packb({"hostname": socket.gethostname(), "pid": os.getpid(), "time": time.time(),
                              "exclusive": self.exclusive})
        self.storage.put(ResourceType.LOCK, lid, self.keyring.seal_resource(_ad(lid), body))
        return lid

    def _read(self, lid: bytes) -> dict[str, object] | None:
        try:
            info = msgpack.unpackb(self.keyring.open_resource(_ad(lid), self.storage.get(ResourceType.LOCK, lid)))
            return dict(info)
        except (NotFound, IntegrityError, ValueError, TypeError, msgpack.UnpackException):
            return None  # gone meanwhile, or not ours to read: it cannot hold the store

    def acquire(self) -> Lock:
        self.lock_id = self._write()
        try:
            self._check_others()
        except BaseException:
            # refused or failed: never leave our lock behind to block others
            self.storage.delete(ResourceType.LOCK, self.lock_id)
            self.lock_id = b""
            raise
        self._thread = threading.Thread(target=self._refresh, name="kloset-lock", daemon=True)
        self._thread.start()
        return self

    def _check_others(self) -> None:
        now = time.time()
        for lid in self.storage.list(ResourceType.LOCK):
            if lid == self.lock_id:
                continue
            info = self._read(lid)
            try:
                if info is None or now - float(info["time"]) > STALE_AFTER:  # type: ignore[arg-type]
                    continue
                if _dead_here(info["hostname"], info["pid"]):
                    with contextlib.suppress(KlosetError):
                        self.storage.delete(ResourceType.LOCK, lid)
                    continue
                other_exclusive = bool(info["exclusive"])
                holder = f"{info['hostname']} (pid {info['pid']})"
            except (KeyError, TypeError, ValueError):
                continue  # not a lock this version understands: it cannot hold the store
            if self.exclusive or other_exclusive:
                kind = "exclusively" if other_exclusive else "for writing"
                raise LockError(f"the store is locked {kind} by {holder}")

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_EVERY):
            try:
                new = self._write()
                old, self.lock_id = self.lock_id, new
                self.storage.delete(ResourceType.LOCK, old)
            except KlosetError:
                continue  # the store is unreachable for now: try again at the next interval

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lock_id:
            self.storage.delete(ResourceType.LOCK, self.lock_id)
            self.lock_id = b""

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if e is None:
            self.release()
            return
        # The work failed first, most often for the same reason (a dead server): that error is the one to
        # report. A lock left behind goes stale and stops counting after STALE_AFTER.
        with contextlib.suppress(KlosetError):
            self.release()
