"""File content read in worker processes, so a backup is not held to one core by the GIL.

Each worker opens the store itself, reads, chunks, hashes, compresses and seals the files it is sent,
packs them into packfiles it uploads on its own, and at the end reports those packs to the parent,
whose transaction commits them. Workers know the store's blobs as they were when the backup began;
content that two workers meet for the first time in the same backup may be stored twice, which costs
space until the store is repacked, never correctness.

Workers are fresh interpreters (``python -m kloset.snapshot.workers``) spoken to over a pipe pair:
nothing of the parent is forked (it has threads), and nothing of the caller's ``__main__`` is imported
again, so scripts and notebooks that call :func:`kloset.backup` at top level work unchanged.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import subprocess
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, SupportsIndex, cast

from ..allocator import without_pandas
from ..buffers import Parts, PartsReader, read_exactly, write_all
from ..encryption import Keyring, MasterKeys
from ..errors import KlosetError
from ..importer import BatchOpener
from ..objects import BlobType, FileInfo, Record
from ..registry import storage_for
from ..repository.config import StoreConfig
from ..repository.repo import Repository
from ..repository.state import Index, PackEntry
from ..repository.transaction import Transaction
from .content import Content, ContentReader
from .process import ends, spawn


@dataclass(frozen=True)
class WorkerSetup:
    storage_config: dict[str, str]
    store_config: bytes
    data_key: bytes
    mac_key: bytes
    encrypted: bool
    known: bytes  # IDs of the chunks the store has, concatenated
    analyzers: list[str]  # fed the content as it is read (``backup --analyze``)
    analyzer_options: dict[str, dict[str, str]]
    known_results: bytes  # IDs of the analyzer results the store has, concatenated


Item = tuple[str, int, Any]  # (pathname, expected size, opener)
#: Sent by a worker in place of a batch ID, with the error that ended it.
_FAILED = "failed"
_MAIN = "from kloset.snapshot.workers import main; main()"


class Loaded:
    """An opener of content read already: what a batch carries to a worker process for a source whose
    own openers cannot go there (a plugin's read over its connection). Holds the error instead when the
    reading failed, and raises it as the source's opener would have. The content is kept in the parts it
    came in, which travel to the worker out of band (see :func:`send`), never joined on the way."""

    __slots__ = ("error", "parts")

    def __init__(self, parts: Parts | None = None, error: str | None = None) -> None:
        self.parts = parts or []
        self.error = error

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        parts = [pickle.PickleBuffer(p) for p in self.parts] if int(protocol) >= 5 else [bytes(p) for p in self.parts]
        return Loaded, (parts, self.error)

    def __call__(self) -> BinaryIO:
        if self.error is not None:
            raise OSError(self.error)
        return cast(BinaryIO, PartsReader(self.parts))

    @classmethod
    def load(cls, openers: list[Any]) -> list[Loaded]:
        """The content of each opener. All are opened before any is read, as :func:`read_batch` does: a
        source that fetches content (a plugin) then has every request of the batch at once."""
        if openers and isinstance(openers[0], BatchOpener):
            return [cls(error=f"{got.strerror or got}") if isinstance(got, OSError) else cls(got)
                    for got in openers[0].fetch(openers)]
        opened = [_ahead(opener) for opener in openers]
        out = []
        for opener in opened:
            try:
                with opener() as f:
                    out.append(cls([f.read()]))
            except OSError as e:
                out.append(cls(error=f"{e.strerror or e}"))
        return out


_COUNT = struct.Struct("<I")


def send(conn: Connection, obj: Any) -> None:
    """Send ``obj`` to a worker: pickled, but for the content it holds (see Loaded), which follows the
    pickle as it is, in one write, and is read straight into one buffer on the other side."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws: Parts = [b.raw() for b in buffers]
    conn.send_bytes(_COUNT.pack(len(raws)) + struct.pack(f"<{len(raws)}Q", *map(len, raws)) + head)
    if raws:
        write_all(conn.fileno(), raws)


def receive(conn: Connection) -> Any:
    """What :func:`send` sent."""
    head = memoryview(conn.recv_bytes())
    (n,) = _COUNT.unpack_from(head)
    sizes = struct.unpack_from(f"<{n}Q", head, _COUNT.size)
    buffers: list[memoryview] = []
    if n:
        body = read_exactly(conn.fileno(), sum(sizes))
        at = 0
        for size in sizes:
            buffers.append(body[at:at + size])
            at += size
    return pickle.loads(head[_COUNT.size + 8 * n:], buffers=buffers)


def picklable(opener: object) -> bool:
    try:
        pickle.dumps(opener)
        return True
    except (pickle.PicklingError, TypeError, AttributeError):
        return False


def _serve(inbox: Connection, outbox: Connection) -> None:
    """A worker's main loop: its setup, then batches in, contents out; ``None`` asks for its packs."""
    setup: WorkerSetup = receive(inbox)
    config = StoreConfig.parse(setup.store_config)
    repo = Repository(storage_for(setup.storage_config), config,
                      Keyring(MasterKeys(setup.data_key, setup.mac_key), setup.encrypted), use_cache=False)
    index = Index()
    known = setup.known
    index.assume((known[i : i + 32] for i in range(0, len(known), 32)), BlobType.CHUNK)
    results = setup.known_results
    index.assume((results[i : i + 32] for i in range(0, len(results), 32)), BlobType.RESULT)
    repo._index = index
    txn = Transaction(repo)
    tap = None
    if setup.analyzers:
        from .tap import Tap

        tap = Tap(setup.analyzers, setup.analyzer_options)
    reader = ContentReader(txn, config.chunking, tap)
    while True:
        msg = receive(inbox)
        # A failure of the store (a dead server, a full disk) goes back typed, as the backup's error, and
        # ends this worker: what it packed since is not to be trusted.
        try:
            if msg is None:
                packs = txn.flush()
                outbox.send((packs, txn.stored_bytes, txn.new_blobs))
                return
            batch_id, items = msg
            contents = read_batch(reader, items)
        except KlosetError as e:
            outbox.send((_FAILED, e))
            return
        outbox.send((batch_id, contents))


class _ForkedWorker:
    """A worker forked by :func:`prefork`, with the part of Popen's interface the pool uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            if self.returncode is None:
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            return self.returncode
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("backup worker", timeout)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)


# Workers forked ahead of need: (process, inbox's writing end, outbox's reading end).
_forked: list[tuple[_ForkedWorker, Connection, Connection]] = []


def prefork(processes: int | None = None) -> None:
    """Fork the workers of a coming backup now, ready and waiting for their setup.

    For a process that is kloset's own (the command line), called before it starts any thread. A
    spawned worker spends a good part of a short backup importing kloset; a forked one has it
    imported already, and forking costs a few milliseconds. Workers a backup does not use (nothing to
    read) see their inbox close when this process exits, and exit."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return  # forking a process with threads could copy a lock some thread holds
    for _ in range(processes if processes is not None else (os.cpu_count() or 1)):
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns from here
            _forked_main(to_child, from_child, from_parent, to_parent)
        os.close(to_child)
        os.close(from_child)
        _forked.append((_ForkedWorker(pid), Connection(from_parent, readable=False),
                        Connection(to_parent, writable=False)))


def _forked_main(inbox: int, outbox: int, *parent_ends: int) -> None:  # pragma: no cover - in the child
    code = 0
    try:
        # Let go of every end that belongs to the parent, or to a sibling forked before this one: a
        # worker must see its inbox close when the parent closes it.
        for fd in parent_ends:
            os.close(fd)
        for _, conn, back in _forked:
            conn.close()
            back.close()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # a reader of the command's output must not wait for a worker
        os.close(devnull)
        with contextlib.suppress(EOFError, BrokenPipeError, KeyboardInterrupt):
            _serve(Connection(inbox, writable=False), Connection(outbox, readable=False))
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)  # never back into the parent's stack, its atexit hooks or its buffers


class ProcessReaders:
    """A small pool of worker processes, each fed batches over its own pipe.

    The processes start at once, but their setup (which lists every chunk the store has) is sent by a
    thread of its own: a worker takes it only once it has imported kloset, and the backup need not stand
    still until then. :meth:`ready` tells when batches can go out without waiting."""

    def __init__(self, repo: Repository, processes: int, analyzers: list[str] | None = None,
                 analyzer_options: dict[str, dict[str, str]] | None = None) -> None:
        self._conns: list[Connection] = []
        self._inboxes: list[Connection] = []
        self._procs: list[subprocess.Popen[bytes] | _ForkedWorker] = []
        self._futures: dict[int, Future[list[Content]]] = {}
        self._busy = [0] * processes
        self._lock = threading.Lock()
        self._next = 0
        for _ in range(processes):
            if _forked:
                forked, conn, inbox = _forked.pop(0)
                self._conns.append(conn)
                self._inboxes.append(inbox)
                self._procs.append(forked)
                continue
            proc, conn, inbox = spawn(_MAIN)
            self._conns.append(conn)
            self._inboxes.append(inbox)
            self._procs.append(proc)
        # Held until each worker's setup is out, so that no batch can overtake it.
        self._send_locks = [threading.Lock() for _ in range(processes)]
        for lock in self._send_locks:
            lock.acquire()
        self._started = threading.Event()
        threading.Thread(target=self._send_setup, args=(repo, analyzers or [], analyzer_options or {}), daemon=True,
                         name="kloset-setup").start()
        self._final: list[tuple[list[PackEntry], int, int] | None] = [None] * processes
        self._failure: KlosetError | None = None  # what a worker reported before it ended
        self._receivers = [threading.Thread(target=self._receive, args=(i,), daemon=True, name="kloset-receive")
                           for i in range(processes)]
        for t in self._receivers:
            t.start()

    def _send_setup(self, repo: Repository, analyzers: list[str], options: dict[str, dict[str, str]]) -> None:
        try:
            # The index is only read while a backup runs: safe to walk from this thread.
            known = b"".join(i for i, t, *_ in repo.index.entries() if t == BlobType.CHUNK)
            results = b"".join(i for i, t, *_ in repo.index.entries() if t == BlobType.RESULT) if analyzers else b""
            keys = repo.keyring.keys
            setup = WorkerSetup(dict(repo.storage.config), repo.config.serialize(), keys.data_key, keys.mac_key,
                                repo.keyring.encrypted, known, analyzers, options, results)
            for conn, lock in zip(self._conns, self._send_locks, strict=True):
                try:
                    send(conn, setup)
                except (OSError, ValueError) as e:
                    self._fail(KlosetError(f"a backup worker process is gone: {e}"))
                finally:
                    lock.release()
        finally:
            self._started.set()

    def ready(self) -> bool:
        return self._started.is_set()

    def wait_ready(self) -> None:
        self._started.wait()

    def submit(self, items: list[Item]) -> Future[list[Content]]:
        fut: Future[list[Content]] = Future()
        with self._lock:
            batch_id = self._next
            self._next += 1
            self._futures[batch_id] = fut
            worker = min(range(len(self._busy)), key=self._busy.__getitem__)
            self._busy[worker] += 1
        try:
            with self._send_locks[worker]:
                send(self._conns[worker], (batch_id, items))
        except (OSError, ValueError) as e:
            self._fail(KlosetError(f"a backup worker process is gone: {e}"))
        return fut

    def _receive(self, worker: int) -> None:
        conn = self._inboxes[worker]
        try:
            while True:
                msg = conn.recv()
                if msg[0] == _FAILED:
                    self._failure = msg[1]
                    self._fail(msg[1])
                    return
                if isinstance(msg[0], int):
                    batch_id, contents = msg
                    with self._lock:
                        fut = self._futures.pop(batch_id)
                        self._busy[worker] -= 1
                    fut.set_result(contents)
                else:
                    self._final[worker] = msg
                    return
        except (EOFError, OSError) as e:
            self._fail(KlosetError(f"a backup worker process died (exit code {self._procs[worker].poll()}): {e}"))

    def _fail(self, error: KlosetError) -> None:
        with self._lock:
            pending, self._futures = self._futures, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(error)

    def finish(self, txn: Transaction) -> None:
        """Have every worker upload its last pack, and hand all their packs to ``txn``."""
        self._started.wait()
        for conn, lock in zip(self._conns, self._send_locks, strict=True):
            with lock:
                send(conn, None)
        for t in self._receivers:
            t.join()
        for worker, final in enumerate(self._final):
            if final is None:
                raise self._failure or KlosetError(f"backup worker {worker} ended without reporting its packs")
            txn.absorb(*final)
        self.close()

    def close(self) -> None:
        for conn in self._conns:
            conn.close()  # a worker reading its inbox sees the end and exits
        for p in self._procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for conn in self._inboxes:
            conn.close()


def read_batch(reader: ContentReader, items: list[Item]) -> list[Content]:
    """Read a batch of files (in a worker process or a reading thread).

    Every file of the batch is opened first and the system told that it will be read: the kernel then
    fetches them all at once, which keeps a disk busy that one read at a time would leave idle when
    the files are not cached yet."""
    openers = [_ahead(opener) for _, _, opener in items]
    return [reader.read(Record(p, FileInfo(p.rpartition("/")[2], size=size), open=opener))
            for (p, size, _), opener in zip(items, openers, strict=True)]


def _ahead(opener: Any) -> Any:
    """An opener for a file already opened, with read-ahead asked for; or one that fails as it did."""
    try:
        f = opener()
    except OSError as e:
        error = e

        def failed() -> Any:
            raise error

        return failed
    if isinstance(f, io.FileIO):  # a local file; asking another kind for its descriptor costs an exception
        with contextlib.suppress(OSError, ValueError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
    return lambda: f


def main() -> None:
    """Entry point of a worker process: argv holds its inbox and outbox file descriptors."""
    # No fixed mmap threshold here (unlike the command line's process): a worker reads on one thread,
    # so glibc's adaptive threshold soon serves its chunk-sized buffers from the heap, where they are
    # reused, instead of mapping and zero-filling fresh pages for every chunk.
    without_pandas()
    # EOF or a broken pipe: the backup no longer needs this worker (it finished early, failed, or stopped).
    with contextlib.suppress(EOFError, BrokenPipeError):
        _serve(*ends())
