"""A write transaction: blobs go into packfiles, packfiles into the store, and one state commits them.

File content and metadata each fill one open pack, so metadata never shares a pack with file data;
workers compress in parallel and only append under the pack's lock.
Full packs are uploaded by a small pool in the background, with a bounded queue so memory stays
bounded. Nothing is visible to readers until :meth:`commit` writes the state; a transaction that
dies leaves only unreferenced packs, which garbage collection removes.

A long transaction may also write checkpoints: a state that lists the packs uploaded so far and no
snapshot. A run killed after a checkpoint leaves those blobs in the index, so the next run stores only
what came after; blobs that no snapshot ends up using are garbage like any other.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..compression import compress
from ..hashing import blob_mac
from ..objects import BlobType, ResourceType
from ..packfile import PackWriter
from .state import PackEntry, StateDelta

if TYPE_CHECKING:
    from .repo import Repository

_UPLOADS_IN_FLIGHT = 1


class _Slot:
    """One open pack and the lock that guards appending to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writer: PackWriter | None = None


class Transaction:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._known = repo.index.blobs
        self._added: set[bytes] = set()
        self._lock = threading.Lock()
        self._writers: list[PackWriter] = []
        self._data = _Slot()
        self._meta = _Slot()
        self._delta = StateDelta()
        self._uploader = ThreadPoolExecutor(2, thread_name_prefix="kloset-upload")
        self._pending: list[Future[None]] = []
        self._slots = threading.BoundedSemaphore(_UPLOADS_IN_FLIGHT)
        self.stored_bytes = 0
        self.new_blobs = 0
        #: Write a checkpoint whenever this many bytes were uploaded since the last one (0: never).
        self.checkpoint_every = 0
        self._uploaded = 0  # bytes uploaded since the last checkpoint
        self._checkpoints: list[tuple[bytes, StateDelta]] = []  # written, not yet merged into the index

    # -- blobs --------------------------------------------------------------------------------------

    def reserve(self, blob_id: bytes) -> bool:
        """True when the blob is new to the store and this transaction: the caller must then add it."""
        if blob_id in self._known:
            return False
        with self._lock:
            if blob_id in self._added:
                return False
            self._added.add(blob_id)
            return True

    def put(self, blob_type: BlobType, data: bytes | memoryview) -> tuple[bytes, bool]:
        """Store a blob unless the store has it; return (ID, whether it was new)."""
        blob_id = blob_mac(self.repo.keyring.mac_key, blob_type, data)
        if not self.reserve(blob_id):
            return blob_id, False
        self.add(blob_type, blob_id, data)
        return blob_id, True

    def add(self, blob_type: BlobType, blob_id: bytes, data: bytes | memoryview) -> None:
        """Pack a reserved blob. Compression, the costly part, runs outside any lock."""
        algo, payload = compress(data)
        self.add_compressed(blob_type, blob_id, algo, payload)

    def add_compressed(self, blob_type: BlobType, blob_id: bytes, algo: int, payload: bytes | memoryview) -> None:
        """Pack a reserved blob whose payload is compressed already (a blob moved from another pack, or
        copied from another store): it costs no compressor time."""
        slot = self._data if blob_type.is_data else self._meta
        with slot.lock:
            if slot.writer is None:
                slot.writer = self._new_writer()
            w = slot.writer
            w.add(blob_type, blob_id, algo, payload)
            self._count(w.blobs.last_length())
            full = len(w) >= self.repo.config.pack_max_size
            if full:
                slot.writer = None
        if full:
            self._ship(w)

    def _count(self, n: int) -> None:
        with self._lock:
            self.stored_bytes += n
            self.new_blobs += 1

    def _new_writer(self) -> PackWriter:
        sealer, wrapped = self.repo.keyring.new_subkey()
        w = PackWriter(sealer, wrapped)
        with self._lock:
            self._writers.append(w)
        return w

    def _ship(self, w: PackWriter) -> None:
        with self._lock:
            self._writers.remove(w)
        if not w.blobs:
            return
        self._slots.acquire()  # backpressure: at most a few packs wait in memory
        fut = self._uploader.submit(self._upload, w)
        with self._lock:
            self._pending.append(fut)

    def _upload(self, w: PackWriter) -> None:
        try:
            pack_id, data = w.finish(self.repo.keyring.mac_key)
            self.repo.storage.put(ResourceType.PACKFILE, pack_id, data)
            with self._lock:
                self.stored_bytes += len(data) - sum(n for t, _, _, n in w.blobs.rows() if t != BlobType.PADDING)
                self._delta.packs.append(PackEntry(pack_id, w.wrapped_key, w.blobs))
                self._uploaded += len(data)
                due = self.checkpoint_every and self._uploaded >= self.checkpoint_every
            if due:
                self.checkpoint()
        finally:
            self._slots.release()

    def checkpoint(self) -> bytes | None:
        """Write a state of the packs uploaded since the last checkpoint, and no snapshot: their blobs
        are in the index of any run that opens the store after it. Returns the state's ID, or None when
        there was nothing to list. Packs still open or uploading go to a later checkpoint or the commit.

        This process's index takes the checkpoints in at the commit, on the committing thread: merged
        here, from an upload thread, they would change the index under a reader walking it."""
        with self._lock:
            packs, self._delta.packs = self._delta.packs, []
            self._uploaded = 0
        if not packs:
            return None
        delta = StateDelta(packs=packs)
        sid, sealed = delta.encode(self.repo.keyring)
        try:
            self.repo.storage.put(ResourceType.STATE, sid, sealed)
        except BaseException:
            with self._lock:  # not written: the commit lists them instead
                self._delta.packs[:0] = packs
            raise
        with self._lock:
            self._checkpoints.append((sid, delta))
        return sid

    # -- commit -------------------------------------------------------------------------------------

    def ship_data(self) -> None:
        """Send the open data pack on its way now, full or not (its memory is released once uploaded)."""
        with self._data.lock:
            w, self._data.writer = self._data.writer, None
        if w is not None:
            self._ship(w)

    def flush(self) -> list[PackEntry]:
        """Upload every open pack and wait for all uploads; return the packs written so far."""
        with self._lock:
            open_writers = list(self._writers)
        for w in open_writers:
            self._ship(w)
        self._data.writer = self._meta.writer = None
        try:
            for f in list(self._pending):
                f.result()
        finally:
            self._uploader.shutdown(wait=True)
        return list(self._delta.packs)

    def absorb(self, packs: list[PackEntry], stored_bytes: int, new_blobs: int) -> None:
        """Take in packs that another process wrote for this transaction."""
        with self._lock:
            self._delta.packs.extend(packs)
            self.stored_bytes += stored_bytes
            self.new_blobs += new_blobs

    def commit(self, deleted: list[bytes] | None = None) -> bytes:
        """Upload every open pack, then write the state that makes them visible; return its ID."""
        self.flush()
        self._delta.deleted = list(deleted or [])
        sid, sealed = self._delta.encode(self.repo.keyring)
        self.repo.storage.put(ResourceType.STATE, sid, sealed)
        del sealed
        # The index takes over from here: drop this transaction's own record of what it added first,
        # or both live at once at the peak of a large backup.
        self._added = set()
        delta, self._delta = self._delta, StateDelta()
        for checkpoint in self._checkpoints:
            self.repo.index.merge(*checkpoint)
        self._checkpoints = []
        self.repo._merged(sid, delta)
        return sid

    def abort(self) -> None:
        """Drop the transaction; packs already uploaded stay unreferenced until GC."""
        self._uploader.shutdown(wait=True, cancel_futures=True)
