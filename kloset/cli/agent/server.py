"""The agent: a process of the user's own that keeps stores open and their SQL connections warm.

A command that only reads a store (``sql``, ``ls``, ``cat``...) is handed over to it: the agent runs
the very same command code, writing to the caller's own stdout and stderr, without the start-up every
new process pays (the interpreter, the passphrase's key stretching, loading the index, DuckDB).
Commands that write (``backup``, ``restore``...) run in their own process, and tell the agent
afterwards that the store is worth keeping open.

What it holds, and for whom:
- only its user can reach it (a user-only folder, and the caller's uid checked on each connection);
- a store is used for a caller only if the caller gives the passphrase the store was opened with
  (compared by HMAC, in constant time); another passphrase opens the store afresh, with the full key
  stretching, so the agent is no faster an oracle for guessing passphrases than the store itself;
- a store whose config changed (deleted and made anew) is opened afresh;
- it leaves after ``--idle`` seconds without a request, dropping every key it held.

Requests run one at a time, in this process's main thread, in the caller's working directory.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import hmac
import importlib
import io
import json
import os
import select
import socket
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kloset
from kloset import passphrase as passphrases
from kloset.allocator import release_large_buffers, without_pandas
from kloset.location import connector_config
from kloset.registry import storage_for, viewer
from kloset.repository.config import StoreConfig

from .. import main as cli
from ..context import Context
from . import client, wire

#: How many stores are kept open at once; the one used longest ago is closed first.
CAPACITY = 4


class NeedsPassphrase(Exception):
    """The store is encrypted and the caller gave no passphrase: it runs the command itself (and asks)."""


@dataclass
class _Held:
    store: kloset.Store
    config: bytes
    proof: bytes | None  # HMAC of the passphrase that opened it, None for a plaintext store


class StorePool:
    """Open stores by location, lent to the commands of callers that know their passphrase."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._secret = os.urandom(32)

    def _proof(self, passphrase: str) -> bytes:
        return hmac.new(self._secret, passphrase.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    def locations(self) -> list[str]:
        return list(self._held)

    def stores(self) -> list[kloset.Store]:
        return [h.store for h in self._held.values()]

    def borrow(self, location: str, passphrase: str | None) -> kloset.Store:
        """The store at ``location``, open; opened (or reopened) when it must be.

        Raises what opening raises (StoreNotFound, AuthenticationError...), or NeedsPassphrase."""
        held = self._held.get(location)
        if held is not None:
            try:
                config = held.store.storage.open()
            except kloset.KlosetError:
                config = None
            if config != held.config:
                self._drop(location)
            elif held.proof is None or (
                    passphrase is not None and hmac.compare_digest(held.proof, self._proof(passphrase))):
                self._held.move_to_end(location)
                return held.store
            elif passphrase is None:
                raise NeedsPassphrase(location)
        return self._open(location, passphrase)

    def _open(self, location: str, passphrase: str | None) -> kloset.Store:
        probe = storage_for(connector_config(location))
        try:
            config = probe.open()
            encrypted = StoreConfig.parse(config).encrypted
        finally:
            probe.close()
        if encrypted and passphrase is None:
            raise NeedsPassphrase(location)
        store = kloset.open(location, passphrase=passphrase if encrypted else None)
        old = self._held.pop(location, None)
        if old is not None:
            old.store.close()
        self._held[location] = _Held(store, config, self._proof(passphrase) if encrypted and passphrase else None)
        while len(self._held) > self.capacity:
            self._drop(next(iter(self._held)))
        return store

    def _drop(self, location: str) -> None:
        held = self._held.pop(location, None)
        if held is not None:
            with contextlib.suppress(Exception):
                held.store.close()

    def close(self) -> None:
        for location in list(self._held):
            self._drop(location)


class _Output(io.FileIO):
    """The caller's stdout or stderr, which stops taking writes once the caller has gone."""

    def __init__(self, fd: int, gone: threading.Event) -> None:
        super().__init__(fd, "w", closefd=True)
        self._gone = gone

    def write(self, b: Any) -> int:
        if self._gone.is_set():
            raise BrokenPipeError("the caller went away")
        return super().write(b)


class Agent:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.pool = StorePool()
        self.build = wire.build()
        self.started = time.time()
        self.served = 0
        self._stop = False
        #: Held while a store is opened or a command runs: one thing at a time touches the stores.
        self._busy = threading.Lock()
        self._warming: list[dict[str, Any]] = []
        self._warm_lock = threading.Lock()
        #: Stores opened by the warm thread, whose SQL connection the serving thread is to make.
        self._connect: list[kloset.Store] = []
        self._warmer: threading.Thread | None = None

    # -- the listening loop ---------------------------------------------------------------------------

    def serve(self, first: dict[str, Any] | None = None) -> int:
        folder = wire.folder(create=True)
        lock = open(folder / "agent.lock", "a+")  # noqa: SIM115 - held for the agent's lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another agent runs
        path = folder / "agent.sock"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by an agent that died: the lock says none runs
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_umask)
        listener.listen(16)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            if first and first.get("op") == "warm":
                self._warm_later(first)
            while not self._stop:
                # A store the warm thread opened gets its SQL connection here, between requests.
                listener.settimeout(0.05 if self._connect else self.idle)
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    if not self._connect:
                        break
                    self._connect_next()
                    continue
                with conn:
                    self._handle(conn)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            listener.close()
            with self._busy:
                self.pool.close()
            lock.close()
        return 0

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        try:
            if wire.peer_uid(conn) != os.getuid():
                return
            message, _ = wire.receive(conn)
        except (OSError, wire.WireError) as e:
            print(f"kloset agent: a request that could not be read: {e}", file=sys.stderr)
            return
        op = message.get("op")
        # Nothing a request does may end the agent: it serves the next one.
        try:
            if op == "run":
                self._run(conn, message)
            elif op == "warm":
                conn.close()  # the caller does not wait
                if self._current(message):
                    self._warm_later(message)
            elif op == "status":
                wire.send(conn, self.status())
            elif op == "stop":
                self._stop = True
                wire.send(conn, {"stopping": True, "pid": os.getpid()})
        except (OSError, wire.WireError) as e:
            print(f"kloset agent: {op}: {e}", file=sys.stderr)
        except Exception:
            traceback.print_exc()

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "since": self.started, "idle": self.idle, "served": self.served,
                "stores": self.pool.locations(), "build": self.build}

    def _current(self, message: dict[str, Any]) -> bool:
        if message.get("build") == self.build:
            return True
        # The caller runs other code than this agent (an upgrade): leave, so that the next start is current.
        self._stop = True
        return False

    # -- requests -------------------------------------------------------------------------------------

    def _warm_later(self, message: dict[str, Any]) -> None:
        """Open the store in a thread of idle priority, which runs only on a CPU nothing else wants.

        Told of a store by the command that just used it, the agent opens it while the user goes on:
        often with the next backup, which must not be slowed for the sake of a later query. A command
        for the store that arrives meanwhile waits for the opening (or runs in its own process after
        ``KLOSET_AGENT_WAIT`` seconds)."""
        with self._warm_lock:
            self._warming.append(message)
            if self._warmer is None:
                self._warmer = threading.Thread(target=self._warm_all, name="kloset-agent-warm", daemon=True)
                self._warmer.start()

    def _warm_all(self) -> None:
        _idle_priority()
        while True:
            with self._warm_lock:
                if not self._warming:
                    self._warmer = None
                    return
                message = self._warming.pop(0)
            with self._busy:
                self._warm(message)

    def _warm(self, message: dict[str, Any]) -> None:
        """Open the store and read its snapshots; with the SQL viewer, load DuckDB and read ahead.

        The SQL connection itself is made by the first query, in the serving thread: DuckDB's worker
        threads would otherwise inherit this thread's idle priority. Failures are only logged."""
        try:
            store = self.pool.borrow(str(message["location"]), message.get("passphrase"))
            for name in client.SERVED:  # the command modules the agent will run
                importlib.import_module(f"kloset.cli.{name}")
            try:
                sql = viewer("sql")
            except kloset.ConfigError:
                store.snapshots()  # the headers, at least
                return
            sql.prewarm(store)  # the headers, and more
            with self._warm_lock:
                self._connect.append(store)
        except Exception as e:
            print(f"kloset agent: could not open {message.get('location')}: {e}", file=sys.stderr)

    def _connect_next(self) -> None:
        with self._warm_lock:
            store = self._connect.pop(0)
        with self._busy:
            if store in self.pool.stores():
                with contextlib.suppress(Exception):
                    sys.modules["kloset.viewers.sql"].prepare(store)

    def _run(self, conn: socket.socket, message: dict[str, Any]) -> None:
        """Take a caller's command, or say why not; then run it on the caller's stdin, stdout and stderr.

        Those come after the acceptance, so that a caller who stopped waiting (and runs the command
        itself) never has it run twice."""
        argv = [str(a) for a in message.get("argv", [])]
        location = message.get("location")
        if not self._current(message) or not argv or not isinstance(location, str):
            wire.send(conn, {"accepted": False, "why": "another build"})
            return
        with self._busy:
            self._serve(conn, message, argv, location)

    def _serve(self, conn: socket.socket, message: dict[str, Any], argv: list[str], location: str) -> None:
        store: kloset.Store | None = None
        failure: kloset.KlosetError | None = None
        try:
            store = self.pool.borrow(location, message.get("passphrase"))
        except NeedsPassphrase:
            wire.send(conn, {"accepted": False, "why": "passphrase"})
            return
        except kloset.KlosetError as e:
            failure = e
        if argv[0] == "sql" and not any(not a.startswith("-") for a in argv[1:]):
            wire.send(conn, {"accepted": False, "why": "interactive"})
            return
        wire.send(conn, {"accepted": True})
        _, fds = wire.receive(conn, max_fds=3)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            return
        conn.settimeout(None)
        self.served += 1
        gone = threading.Event()
        with self._streams(fds, gone), self._caller(message):
            with self._watch(conn, gone, store):
                code = self._command(argv, location, store, failure)
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()
            wire.send(conn, {"code": code})

    def _command(self, argv: list[str], location: str, store: kloset.Store | None,
                 failure: kloset.KlosetError | None) -> int:
        """Run the command as the command line would, whatever it raises: the agent outlives it."""
        try:
            if failure is not None:
                print(f"kloset: error: {failure}", file=sys.stderr)
                return failure.exit_code
            return cli.run_parsed(argv, Context(location, store=store))
        except BrokenPipeError:
            return 141  # the caller went away while an error was being written
        except Exception:
            with contextlib.suppress(OSError, ValueError):
                traceback.print_exc()  # to the caller's stderr, as the command would have shown it
            return 1

    @contextlib.contextmanager
    def _streams(self, fds: list[int], gone: threading.Event) -> Iterator[None]:
        """The caller's descriptors as this process's standard streams, closed at the end."""
        saved = sys.stdin, sys.stdout, sys.stderr
        stdin, stdout, stderr = fds
        try:
            sys.stdin = open(stdin, encoding="utf-8", errors="surrogateescape", closefd=True)  # noqa: SIM115
            sys.stdout = io.TextIOWrapper(io.BufferedWriter(_Output(stdout, gone)), encoding="utf-8",
                                          errors="surrogateescape")
            sys.stderr = io.TextIOWrapper(_Output(stderr, gone), encoding="utf-8", errors="backslashreplace",
                                          write_through=True)
        except BaseException:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            sys.stdin, sys.stdout, sys.stderr = saved
            raise
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr, sys.stdin):
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
            sys.stdin, sys.stdout, sys.stderr = saved

    @contextlib.contextmanager
    def _caller(self, message: dict[str, Any]) -> Iterator[None]:
        """The caller's working directory and the part of its environment a command looks at."""
        env = message.get("env") or {}
        saved = {k: os.environ.get(k) for k in env}
        here = os.getcwd()
        try:
            os.chdir(str(message.get("cwd") or "/"))
        except OSError:
            os.chdir("/")
        os.environ.update({str(k): str(v) for k, v in env.items()})
        _tzset()
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            _tzset()
            os.chdir(here)

    @contextlib.contextmanager
    def _watch(self, conn: socket.socket, gone: threading.Event, store: kloset.Store | None) -> Iterator[None]:
        """While a command runs: when the caller hangs up (Ctrl-C), stop its output and its query."""
        wake_r, wake_w = os.pipe()  # written to when the command is over

        def watch() -> None:
            ready, _, _ = select.select([conn.fileno(), wake_r], [], [])
            if wake_r not in ready:
                gone.set()
                if store is not None and "kloset.viewers.sql" in sys.modules:
                    with contextlib.suppress(Exception):
                        sys.modules["kloset.viewers.sql"].interrupt(store)

        watcher = threading.Thread(target=watch, name="kloset-agent-watch", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            os.write(wake_w, b"x")
            watcher.join()
            os.close(wake_r)
            os.close(wake_w)


def _idle_priority() -> None:
    """This thread (and those it starts) runs only when a CPU is otherwise idle (Linux's SCHED_IDLE)."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _tzset() -> None:
    if hasattr(time, "tzset"):
        time.tzset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kloset agent (server)")
    parser.add_argument("--idle", type=float, default=600.0)
    args = parser.parse_args(argv)
    for name in passphrases.ENVIRONMENT:
        os.environ.pop(name, None)
    release_large_buffers()
    without_pandas()
    first: dict[str, Any] | None = None
    if not sys.stdin.isatty():
        with contextlib.suppress(ValueError, OSError):
            data = sys.stdin.read()
            first = json.loads(data) if data.strip() else None
    return Agent(args.idle).serve(first)


if __name__ == "__main__":
    sys.exit(main())
