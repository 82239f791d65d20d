"""gRPC over a plugin's stdin/stdout, on both sides of the boundary (see :mod:`kloset.plugin.http2`).

The host gives the plugin one end of a socket pair as both its stdin and its stdout, and speaks to it on
the other end; the plugin (:func:`serve`) reads its stdin and writes its stdout, whether they are that
socket or the pipes another host may give. The bytes are the protocol's HTTP/2, so a plugin built for
Plakar runs under this host and ours under Plakar's.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar, cast

from ..buffers import Buffer, Parts
from ..errors import KlosetError, PluginError
from .http2 import Call, CallError, Connection, ProtocolError, message, response_headers
from .wire import Status, error_of, status_of

CHUNK = 1 << 20  # the protocol's largest content chunk
DEFAULT_TIMEOUT = 300.0


class Framed(list[Buffer]):
    """Messages a stream's handler framed already (http2.message), sent in one write."""


class Message(Protocol):
    def SerializeToString(self) -> bytes: ...


M = TypeVar("M")


class Plugin:
    """One running plugin process and the connection to it. ``name`` says which in every error; a call
    that gets nothing from the plugin for ``timeout`` seconds fails (a whole stream may rightly last
    hours, so only silence is bounded)."""

    def __init__(self, name: str, command: list[str], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._ready = False
        self.failed = False  # it crashed, broke the protocol or fell silent: no more calls, no waiting on it
        ours, theirs = socket.socketpair()
        self._sock = ours
        with theirs:
            try:
                self.process = subprocess.Popen(command, stdin=theirs.fileno(), stdout=theirs.fileno(), close_fds=True)
            except OSError as e:
                ours.close()
                raise PluginError(f"plugin {name}: cannot start {command[0]}: {e.strerror or e}") from e
        self.conn = Connection(ours.fileno(), ours.fileno(), client=True, name=name, keep=ours)
        # A connector dropped without close() still stops its plugin.
        self._finalizer = weakref.finalize(self, _stop, self.conn, ours, self.process)
        try:
            self.conn.start()
            self._await_ready()
        except BaseException:
            self.close()
            raise

    def _await_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.conn.settled.wait(0.05):
            if self.process is not None and self.process.poll() is not None:
                self.conn.settled.wait(0.2)  # what it wrote before it stopped may still be read
                if self.conn.settled.is_set():
                    break
                raise self._broken("stopped before it answered")
            if time.monotonic() > deadline:
                raise PluginError(f"plugin {self.name}: no answer within {self.timeout:g} s of starting")
        if self.conn.error is not None:
            # A plugin that spoke garbage may well still run (waiting for its stdin to close): no wait.
            quick = isinstance(self.conn.error, ProtocolError)
            raise self._broken(_reason(self.conn.error, self.name), 0.1 if quick else 1.0)
        self._ready = True

    def _exit_status(self, wait: float = 1.0) -> str:
        """How the process ended, waiting a little for it: a crash closes the pipe just before it exits."""
        if self.process is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(wait)
        code = self.process.returncode
        if code is None:
            return ""
        if code < 0:
            with contextlib.suppress(ValueError):
                return f" (killed by {signal.Signals(-code).name})"
        return f" (exit code {code})"

    def _broken(self, what: str, wait: float = 1.0) -> PluginError:
        return PluginError(f"plugin {self.name} {what}{self._exit_status(wait)}")

    def error(self, e: BaseException) -> KlosetError:
        """The host's error for a failed call: the plugin's own typed error when it answered with one,
        else a PluginError that says what became of the plugin."""
        self.failed = self.failed or not isinstance(e, CallError) or self.conn.error is not None
        if isinstance(e, CallError):
            if e.code == Status.CANCELLED and self.conn.error is not None:
                return self._broken(_reason(self.conn.error, self.name))
            return error_of(e.code, e.detail, self.name)
        if isinstance(e, TimeoutError):
            return PluginError(f"plugin {self.name} sent nothing for {self.timeout:g} s")
        if isinstance(e, PluginError) and not self._closed:
            return self._broken(_reason(e, self.name))
        if isinstance(e, KlosetError):
            return e
        return PluginError(f"plugin {self.name}: {e}")

    def unary(self, path: str, request: Message, reply: Callable[[bytes], M],
              headers: dict[str, str] | None = None) -> M:
        """A unary call, within the timeout, with errors translated; ``headers`` gets the reply's."""
        try:
            answer, got = self.conn.unary(path, request.SerializeToString(), self.timeout, reply)
        except (CallError, TimeoutError, PluginError) as e:
            raise self.error(e) from None
        if headers is not None:
            headers.update(got)
        return cast(M, answer)

    def call(self, path: str, request: Message | None = None, reply: Callable[[bytes], Any] | None = None) -> Call:
        """Open a call, with its one request when it has one; ``reply`` parses what it answers."""
        try:
            return self.conn.call(path, None if request is None else request.SerializeToString(), reply)
        except PluginError as e:
            raise self.error(e) from None

    def send(self, call: Call, request: Message, end: bool = False) -> None:
        try:
            call.send(request.SerializeToString(), end)
        except PluginError as e:
            raise self.error(e) from None

    def replies(self, call: Call, cancel: bool = True) -> Iterator[Any]:
        """The messages of a call (as its ``parse`` made them) until the plugin ends it; cancelled if the
        consumer stops early, unless ``cancel`` is False (a call that goes on, as an import that still
        takes acknowledgements)."""
        try:
            while (m := call.recv(self.timeout)) is not None:
                yield m
        except (CallError, TimeoutError, PluginError) as e:
            raise self.error(e) from None
        finally:
            if cancel and not call.done:
                call.cancel()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Calls opened in the block go out together (see Connection.batch)."""
        return self.conn.batch()

    def stream(self, path: str, request: Message, reply: Callable[[bytes], M]) -> Iterator[M]:
        """A server-streaming call's replies."""
        return self.replies(self.call(path, request, reply))

    def upload(self, path: str, requests: Iterable[Message], reply: Callable[[bytes], M]) -> M:
        """A client-streaming call: every request, then the one reply."""
        call = self.call(path, reply=reply)
        for r in requests:
            self.send(call, r)
        try:
            call.end()
        except PluginError as e:
            raise self.error(e) from None
        answer = list(self.replies(call))
        if len(answer) != 1:
            raise PluginError(f"plugin {self.name}: {len(answer)} replies to {path}, not one")
        return answer[0]

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the connection; the plugin exits on the end of its stdin, and is stopped if it does not."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        # A healthy plugin exits as soon as its stdin ends; one that failed is given little time.
        _stop(self.conn, self._sock, self.process, 0.5 if self.failed or not self._ready else 5)


def _stop(conn: Connection, sock: socket.socket, process: subprocess.Popen[bytes] | None, grace: float = 0.5) -> None:
    conn.close()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    if process is not None:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _reason(e: BaseException, name: str) -> str:
    return str(e).removeprefix(f"plugin {name} ")


# The plugin's side.

Handler = tuple[str, Callable[..., Any], Callable[[bytes], Any]]  # (kind, function, request parser)


def serve(handlers: dict[str, Handler], workers: int = 16, inline: Callable[[str], bool] | None = None,
          metadata: Callable[[str], dict[str, str]] | None = None) -> None:
    """Serve ``handlers`` (``path -> (kind, function, parse)``, kind one of ``unary``, ``server``,
    ``client``, ``bidi``) over this process's stdin/stdout until the host closes its end; the calls whose
    path ``inline`` accepts are served on the connection's own thread (see :class:`Connection`); a
    unary reply carries the metadata ``metadata`` gives for its path once the call is served. Stray
    prints go to stderr: stdout belongs to the protocol."""
    rfd, wfd = os.dup(0), os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # Calls run on threads of their own, taken from a queue: a call per file makes the pool's handing
    # over part of each call's cost, and this is the cheapest there is.
    work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
    for i in range(workers):
        threading.Thread(target=_worker, args=(work,), name=f"kloset-plugin-{i}", daemon=True).start()
    conn = Connection(rfd, wfd, client=False, name="host", handler=lambda c: _handle(conn, handlers, c, metadata),
                      spawn=work.put, inline=inline)
    conn.start()
    conn.ended.wait()
    for _ in range(workers):
        work.put(None)
    deadline = time.monotonic() + 1
    for t in threading.enumerate():
        if t.name.startswith("kloset-plugin") and t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                # The host is gone and a call is still at work (a scan, a read): nobody will take its
                # answer, and waiting for it would keep this process alive for nothing.
                os._exit(0)


def _worker(work: queue.SimpleQueue[Callable[[], None] | None]) -> None:
    while (job := work.get()) is not None:
        job()


def _requests(call: Call, parse: Callable[[bytes], Any]) -> Iterator[Any]:
    while (data := call.recv()) is not None:
        yield parse(data)


def _handle(conn: Connection, handlers: dict[str, Handler], call: Call,
            metadata: Callable[[str], dict[str, str]] | None = None) -> None:
    entry = handlers.get(call.path)
    try:
        if entry is None:
            conn.reply(call, None, Status.UNIMPLEMENTED, f"no method {call.path}")
            return
        kind, fn, parse = entry
        if kind in ("unary", "server"):
            data = call.recv()
            if data is None:
                raise CallError(Status.INTERNAL, f"{call.path}: no request")
            arg: Any = parse(data)
        else:
            arg = _requests(call, parse)
        if kind in ("unary", "client"):
            answer = fn(arg).SerializeToString()
            if metadata is not None and (fields := metadata(call.path)):
                call.reply_headers = response_headers(fields)
            conn.reply(call, answer)
        elif kind == "bidi":  # each answer goes at once: the peer may wait on it before it sends more
            for m in fn(arg):
                if isinstance(m, Framed):
                    conn.send_data(call, m, False)
                else:
                    call.send(m.SerializeToString())
            conn.reply(call, None)
        else:
            _replies(conn, call, iter(fn(arg)), None)
    except Exception as e:
        _failed(conn, call, e)


def _replies(conn: Connection, call: Call, messages: Iterator[Message | Parts], last: bytes | Parts | None) -> None:
    """A server-streaming call's replies, the last with the status (a reply of one message, most files',
    is then one write). On the reader thread (an inline call), a reply the peer's window cannot take
    now hands the rest of the call to a worker thread, which may wait: the reader must not."""
    try:
        for m in messages:
            if last is not None and not conn.send_data(call, message(last), False, wait=not call.inline):
                call.inline = False
                rest = itertools.chain((m,), messages)  # m is taken from messages already
                conn.spawn(functools.partial(_replies, conn, call, rest, last))
                return
            # A handler may give a message serialized already, as parts (see wire.chunk_message).
            last = m if isinstance(m, list) else m.SerializeToString()
        if not conn.reply(call, last, wait=not call.inline):
            call.inline = False
            conn.spawn(functools.partial(_replies, conn, call, iter(()), last))
    except Exception as e:
        _failed(conn, call, e)


def _failed(conn: Connection, call: Call, e: Exception) -> None:
    if isinstance(e, PluginError):
        return  # the connection is gone: nobody to answer
    code, detail = (e.code, e.detail) if isinstance(e, CallError) else status_of(e)
    with contextlib.suppress(PluginError):
        conn.reply(call, None, code, detail)
