"""gRPC's HTTP/2, just what the plugin protocol uses: one connection over a pipe pair or socket, prior
knowledge (no TLS, no upgrade), many concurrent calls, flow control both ways.

Why by hand rather than grpcio: grpcio's Python layer costs about 400 µs of CPU per call and 100–200 µs
per streamed message on each side, and the protocol makes a call per file (``Open``) and a message per
record. Backing up 68,000 files through an fs importer plugin took 4× the in-process time with it. What
this module does per message is a few struct operations; header blocks are decoded with ``hpack`` (the
HPACK library the python-hyper HTTP/2 stack uses), and encoded as fixed byte strings without the
dynamic table. It interoperates with grpcio's C core both ways (tests/plugin/test_http2.py).

A :class:`Connection` reads frames on a thread of its own and hands each call's messages to the
:class:`Call` they belong to; a call's ``recv`` returns whole gRPC messages. A stream's window is
opened as its messages are taken, not as they arrive, so a consumer that falls behind holds back the
sender rather than filling memory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import hpack

from ..buffers import Buffer, Parts, read_exactly, read_into, size, take, uninitialized, write_all
from ..errors import PluginError

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT, S_INITIAL_WINDOW, S_MAX_FRAME, S_MAX_HEADER_LIST = range(1, 7)
CANCEL_CODE = 0x8

_FRAME = struct.Struct(">IBI")  # length (24 bits) and type packed in the first word, flags, stream id
_WINDOW = 4 << 20  # what a stream may have in flight towards us
_READ = 1 << 20  # the most one read takes: under the command line's mmap threshold (kloset.allocator)
_READ_DIRECT = 64 << 10  # a DATA frame this large that a read cut short is read into a buffer of its own
_CONNECTION_WINDOW = (1 << 31) - 1
_MAX_FRAME = (1 << 24) - 1  # the largest frame we accept
_DEFAULT_FRAME = 16384
_END = object()
_EMPTY = memoryview(b"")
_PRINTABLE = " !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"  # kept as they are in grpc-message; '%' and the rest escaped


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return _FRAME.pack(len(payload) << 8 | ftype, flags, sid) + payload


def _literal(name: bytes, value: bytes) -> bytes:
    """An HPACK literal header field without indexing, new name, no Huffman: the peer's table is untouched."""
    return b"\x00" + _string(name) + _string(value)


def _string(s: bytes) -> bytes:
    n = len(s)
    if n < 127:
        return bytes([n]) + s
    out = bytearray([127])
    n -= 127
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + s


@functools.cache
def request_headers(path: str) -> bytes:
    # :method POST and :scheme http are static-table entries 3 and 6.
    return (b"\x83\x86" + _literal(b":path", path.encode()) + _literal(b":authority", b"localhost")
            + _literal(b"content-type", b"application/grpc") + _literal(b"te", b"trailers"))


RESPONSE_HEADERS = b"\x88" + _literal(b"content-type", b"application/grpc")  # :status 200 is static entry 8


def response_headers(metadata: dict[str, str]) -> bytes:
    """A reply's header block with custom metadata (lowercase ASCII names, as gRPC requires)."""
    return RESPONSE_HEADERS + b"".join(_literal(k.encode(), v.encode()) for k, v in metadata.items())


@functools.lru_cache(maxsize=256)  # a few blocks repeat (every good call's); error details vary
def trailers(code: int, message: str = "") -> bytes:
    block = _literal(b"grpc-status", str(code).encode())
    if message:
        # grpc-message is percent-encoded UTF-8 (the gRPC over HTTP/2 spec).
        block += _literal(b"grpc-message", urllib.parse.quote(message, safe=_PRINTABLE).encode())
    return block


_OK = trailers(0)


def message(payload: bytes | Parts) -> Parts:
    """A gRPC length-prefixed message (never compressed), as parts."""
    parts: Parts = [payload] if isinstance(payload, (bytes, memoryview)) else payload
    return [b"\x00" + size(parts).to_bytes(4, "big"), *parts]


class ProtocolError(PluginError):
    """The peer broke HTTP/2 or gRPC framing."""


class CallError(Exception):
    """A call ended with a non-OK gRPC status."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Call:
    """One gRPC call (an HTTP/2 stream), from either side."""

    __slots__ = ("_consumed", "_inbox", "_rbuf", "conn", "done", "headers", "id", "inline", "parse", "path",
                 "reply_headers", "reset", "send_window", "sent_headers", "status")

    def __init__(self, conn: Connection, sid: int, parse: Callable[[bytes], Any] | None = None) -> None:
        self.conn = conn
        self.id = sid
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._rbuf = bytearray()
        self._consumed = 0
        self.send_window = conn.peer_initial_window
        self.headers: dict[str, str] = {}
        self.reply_headers = RESPONSE_HEADERS  # what a server's reply starts with
        self.path = ""
        self.sent_headers = False
        self.status: tuple[int, str] | None = None
        self.done = False  # the peer's side has ended
        self.reset = False  # the stream was reset: nothing more may be sent on it
        self.inline = False  # served on the reader thread once its request is whole (see Connection)
        # What each message is made into on the reader thread, straight from the bytes read: one copy of
        # a content chunk fewer than handing over the bytes and parsing them on the consumer's thread.
        self.parse = parse

    def recv(self, timeout: float | None = None) -> Any:
        """The next message (as ``parse`` made it, else bytes); None when the peer ended its side well.
        Raises CallError for a non-OK status, PluginError when the connection is lost, TimeoutError
        when nothing came in time."""
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if type(item) is tuple:
            self._consumed += item[1]
            if self._consumed >= _WINDOW // 2:
                self.conn.window_update(self.id, self._consumed)
                self._consumed = 0
            return item[0]
        self._inbox.put(item)  # an end is sticky: every later recv sees it too
        if item is _END:
            return None
        raise item

    def send(self, payload: bytes | Parts, end: bool = False) -> None:
        self.conn.send_data(self, message(payload), end)

    def end(self) -> None:
        self.conn.send_data(self, [], True)

    def cancel(self) -> None:
        self.conn.reset(self.id)

    # The reader thread's side. A message is a view of a read (``owned``), which it may keep, or of the
    # buffer that put together a message split across frames, which is copied (by ``parse``, or here).
    def _message(self, body: memoryview, owned: bool) -> None:
        parse = self.parse
        if parse is None:
            self._inbox.put((bytes(body), len(body) + 5))
            return
        try:
            item = parse(body)  # type: ignore[arg-type]  # protobuf parses any buffer; its stubs say bytes
        except Exception as e:
            self._finish(ProtocolError(f"plugin {self.conn.name} sent a message that does not parse ({e})"))
            self.conn.forget(self.id)
            self.conn._control(frame(RST_STREAM, 0, self.id, CANCEL_CODE.to_bytes(4, "big")))
            return
        if type(item) is memoryview and not owned:
            item = item.tobytes()
        self._inbox.put((item, len(body) + 5))

    def _data(self, payload: memoryview, end: bool) -> None:
        """The payload of a DATA frame: a view of a read that nothing else writes, which a message parsed
        from it may keep a view of (unlike rbuf, where a message split across frames is put together)."""
        rbuf = self._rbuf
        if rbuf:
            rbuf += payload
            while len(rbuf) >= 5:
                n = int.from_bytes(rbuf[1:5], "big")
                if len(rbuf) < n + 5:
                    break
                with memoryview(rbuf) as view:
                    self._message(view[5:n + 5], False)
                del rbuf[:n + 5]
        else:
            # Whole messages are taken where they lie (one, or a batch of records); a part goes to rbuf.
            at, total = 0, len(payload)
            while total - at >= 5:
                n = int.from_bytes(payload[at + 1:at + 5], "big")
                if total - at < n + 5:
                    break
                self._message(payload[at + 5:at + 5 + n], True)
                at += 5 + n
            if at < total:
                rbuf += payload[at:]
        if end:
            self._finish()
            if self.inline:
                self.conn.run_inline(self)

    def _finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if error is None and self.status is not None and self.status[0] != 0:
            error = CallError(*self.status)
        self._inbox.put(_END if error is None else error)
        if self.conn.client:  # a server's call lasts until its reply is sent
            self.conn.forget(self.id)


class Connection:
    """An HTTP/2 connection over a socket or a pair of file descriptors, as client or server.

    ``handler`` (server side) is called on a thread of ``spawn`` with each new :class:`Call`; or, for a
    call whose path ``inline`` accepts, on the reader thread itself once the request is whole. That
    saves two thread switches a call, which is most of a small call's cost, and suits a call that does
    quick work (a local file's content). What the reader thread writes while it serves the calls of one
    read is sent in one write."""

    def __init__(self, rfd: int, wfd: int, *, client: bool, name: str = "",
                 handler: Callable[[Call], None] | None = None,
                 spawn: Callable[[Callable[[], None]], object] | None = None,
                 inline: Callable[[str], bool] | None = None, keep: object = None) -> None:
        self.rfd, self.wfd = rfd, wfd
        # What owns the descriptors (a socket), held while the reader thread reads them: were it
        # collected, the numbers could be given to another connection's socket and read from here.
        self._keep = keep
        self.client = client
        self.name = name
        self._handler = handler
        self._spawn = spawn
        self._inline = inline
        # Writes held back by thread (see batch; the reader thread's, until the calls of its read are served).
        self._corks: dict[int, Parts] = {}
        self._reader_id = 0
        self._decoded: dict[bytes, dict[str, str]] = {}
        self._table_mark: tuple[int, object] = (0, None)
        self._calls: dict[int, Call] = {}
        self._next_id = 1
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = 1 << 20
        self._wlock = threading.RLock()  # re-entered when a write fails and the connection is marked lost
        self._window = threading.Condition(self._wlock)
        self.peer_initial_window = 65535
        self._peer_max_frame = _DEFAULT_FRAME
        self._send_window = 65535
        self._received = 0
        self.error: BaseException | None = None
        self.settled = threading.Event()  # the peer's first SETTINGS came
        self.ended = threading.Event()  # the connection is over
        self._header_block: tuple[int, int, bytearray] | None = None
        self._controls: queue.SimpleQueue[tuple[bytes, Callable[[], None] | None] | None] | None = None
        self._reader = threading.Thread(target=self._read_loop, name=f"kloset-http2-{name}", daemon=True)

    def start(self) -> None:
        settings = struct.pack(">HIHIHIHI", S_ENABLE_PUSH, 0, S_INITIAL_WINDOW, _WINDOW, S_MAX_FRAME, _MAX_FRAME,
                               S_MAX_HEADER_LIST, 1 << 20)
        first = frame(SETTINGS, 0, 0, settings) + frame(WINDOW_UPDATE, 0, 0,
                                                        (_CONNECTION_WINDOW - 65535).to_bytes(4, "big"))
        self._write((PREFACE if self.client else b"") + first)
        self._reader.start()

    # Writing.
    def _write(self, *parts: Buffer) -> None:
        with self._wlock:
            self._write_locked(*parts)

    def _write_locked(self, *parts: Buffer) -> None:
        if self.error is not None:
            raise self.error
        cork = self._corks.get(threading.get_ident()) if self._corks else None
        if cork is not None:
            cork.extend(parts)
            return
        try:
            write_all(self.wfd, list(parts))
        except OSError as e:
            raise self._lost(f"closed its end of the connection ({e.strerror})") from None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold this thread's writes, and every other thread's, until the block ends: the calls it opens go
        out in one write, in the order of their stream IDs."""
        with self._wlock:
            ident = threading.get_ident()
            if ident in self._corks:
                yield
                return
            self._corks[ident] = []
            try:
                yield
            finally:
                self._uncork(ident)

    def _uncork(self, ident: int) -> None:
        cork = self._corks.pop(ident, None)
        if cork:
            self._write(*cork)

    def call(self, path: str, payload: bytes | Parts | None = None,
             parse: Callable[[bytes], Any] | None = None) -> Call:
        """Open a call (client side): its request headers go out at once, and with them ``payload``, the
        call's one request message, in the same write when the windows take it. ``parse`` makes each
        reply message into what ``recv`` returns."""
        data = [] if payload is None else message(payload)
        total = size(data)
        with self._wlock:
            sid = self._next_id
            self._next_id += 2
            c = Call(self, sid, parse)
            self._calls[sid] = c
            block = request_headers(path)
            head = _FRAME.pack(len(block) << 8 | HEADERS, END_HEADERS, sid), block
            if payload is None or total > self._room(c):
                self._write_locked(*head)
            else:
                self._send_window -= total
                c.send_window -= total
                self._write_locked(*head, _FRAME.pack(total << 8 | DATA, END_STREAM, sid), *data)
                return c
        if payload is not None:
            self.send_data(c, data, True)
        return c

    def _room(self, c: Call) -> int:
        """The most data that can go on ``c`` now, in one frame (under the write lock)."""
        return min(self._send_window, c.send_window, self._peer_max_frame)

    def unary(self, path: str, request: bytes, timeout: float,
              parse: Callable[[bytes], Any] | None = None) -> tuple[Any, dict[str, str]]:
        """A unary call's reply, and the headers it came with."""
        c = self.call(path, request, parse)
        try:
            reply = c.recv(timeout)
            if reply is None:
                raise CallError(13, f"{path}: no reply")
            if c.recv(timeout) is not None:
                raise CallError(13, f"{path}: more than one reply")
        except TimeoutError:
            c.cancel()
            raise
        return reply, c.headers

    def send_data(self, c: Call, data: Parts, end: bool, wait: bool = True) -> bool:
        """``data`` (whole gRPC messages, as parts) on ``c``'s stream, in frames the peer's windows allow.
        With ``wait`` False, nothing is sent and False returned when the windows do not hold it all now."""
        total = size(data)
        with self._window:
            if not wait and total > self._room(c):
                return False
            if c.reset or (self.client and c.done):
                return True  # the call is over: what the peer would not read is dropped
            if not self.client and not c.sent_headers:
                c.sent_headers = True
                self._write_locked(frame(HEADERS, END_HEADERS, c.id, c.reply_headers))
            data = list(data)
            while True:
                n = min(total, self._room(c))
                if n <= 0 and total:
                    if self.error is not None:
                        raise self.error
                    if c.reset:
                        return True
                    # What this thread holds back may be what the peer waits for before it opens the window.
                    self._uncork(threading.get_ident())
                    self._window.wait(1.0)
                    continue
                last = n == total
                self._send_window -= n
                c.send_window -= n
                self._write_locked(_FRAME.pack(n << 8 | DATA, END_STREAM if end and last else 0, c.id),
                                   *(data if last else take(data, n)))
                total -= n
                if last:
                    return True

    def reply(self, c: Call, payload: bytes | Parts | None, code: int = 0, detail: str = "",
              wait: bool = True) -> bool:
        """Server side: the last message (if any) and the status, in one write when the windows allow.
        With ``wait`` False, nothing is sent and False returned when the windows cannot take the message
        now (the caller then answers from a thread that may wait)."""
        data = [] if payload is None else message(payload)
        total = size(data)
        block = _OK if code == 0 and not detail else trailers(code, detail)
        with self._wlock:  # a plain lock: only send_data waits on the window condition
            if c.reset:
                return True
            if total > self._room(c):
                if not wait:
                    return False
                self.send_data(c, data, False)
                data, total = [], 0
            out: Parts = [] if c.sent_headers else [frame(HEADERS, END_HEADERS, c.id, c.reply_headers)]
            c.sent_headers = True
            if data:
                self._send_window -= total
                c.send_window -= total
                out += [_FRAME.pack(total << 8 | DATA, 0, c.id), *data]
            self._write_locked(*out, _FRAME.pack(len(block) << 8 | HEADERS, END_HEADERS | END_STREAM, c.id), block)
        self.forget(c.id)
        return True

    def flush(self) -> None:
        """Write what the reader thread held back (see ``inline``); later writes go straight out."""
        self._uncork(self._reader_id)

    def run_inline(self, c: Call) -> None:
        handler = self._handler
        if handler is not None:
            handler(c)

    def spawn(self, job: Callable[[], None]) -> None:
        """Run ``job`` on a worker thread; what the reader thread held back goes out first, so that a
        call handed over mid-way keeps its frames in order."""
        if threading.get_ident() == self._reader_id:
            self.flush()
        if self._spawn is not None:
            self._spawn(job)

    def window_update(self, sid: int, n: int) -> None:
        if sid in self._calls:
            with contextlib.suppress(PluginError):  # the reader reports a lost connection to every call
                self._write(frame(WINDOW_UPDATE, 0, sid, n.to_bytes(4, "big")))

    def reset(self, sid: int) -> None:
        call = self._calls.pop(sid, None)
        if call is not None and self.error is None:
            with contextlib.suppress(PluginError):
                self._write(frame(RST_STREAM, 0, sid, CANCEL_CODE.to_bytes(4, "big")))

    def forget(self, sid: int) -> None:
        self._calls.pop(sid, None)

    def close(self) -> None:
        if self.error is None:
            with contextlib.suppress(PluginError):
                self._write(frame(GOAWAY, 0, 0, max(0, self._next_id - 2 if self.client else 0).to_bytes(4, "big")
                                  + b"\0\0\0\0"))
        self._lost("was closed", closing=True)

    def _lost(self, why: str, closing: bool = False, kind: type[PluginError] = PluginError) -> PluginError:
        with self._window:
            if self.error is None:
                self.error = kind(f"plugin {self.name} {'was closed' if closing else why}")
            self._window.notify_all()
        for c in list(self._calls.values()):
            c._finish(self.error)
        if self._controls is not None:
            self._controls.put(None)
        self.settled.set()
        self.ended.set()
        return self.error  # type: ignore[return-value]

    def _control(self, data: bytes, then: Callable[[], None] | None = None) -> None:
        """A frame the reader thread owes the peer (an ACK, a window), and what to do once it is written.
        Written by a thread of its own: the reader must never wait on a write, or two peers whose writes
        both wait on the other's reading would stop for good."""
        if self._controls is None:
            self._controls = queue.SimpleQueue()
            threading.Thread(target=self._control_loop, args=(self._controls,), name=f"kloset-http2-{self.name}-w",
                             daemon=True).start()
        self._controls.put((data, then))

    def _control_loop(self, controls: queue.SimpleQueue[tuple[bytes, Callable[[], None] | None] | None]) -> None:
        while (item := controls.get()) is not None:
            data, then = item
            try:
                with self._wlock:
                    self._write_locked(data)
                    if then is not None:
                        then()
            except PluginError:
                return

    # Reading.
    def _read_loop(self) -> None:
        # Each read is a bytes object of its own, and frames are handled where they lie in it: a message
        # kept (a content chunk) is a view of that read, never copied out of a shared buffer, and bytes
        # that a read fills are never zero-filled first. Reads stay under the allocator's mmap threshold,
        # so their memory is reused rather than mapped afresh. A frame a read cut short is completed
        # with reads of just the bytes it lacks, then joined: its one copy.
        read, rfd = os.read, self.rfd
        self._reader_id = ident = threading.get_ident()
        try:
            if not self.client:
                preface = self._read_exactly([], 0, len(PREFACE))
                if preface != PREFACE:
                    raise ProtocolError(f"plugin {self.name} did not speak gRPC (no HTTP/2 preface)")
            while True:
                block = read(rfd, _READ)
                if not block:
                    raise self._lost("closed its connection")
                if self._inline is not None:
                    self._corks[ident] = []
                view = memoryview(block)
                pos, n = 0, len(block)
                while pos < n:
                    if n - pos < 9:  # a header cut short: its frame is completed on its own
                        self._drain(ident)
                        frame_bytes = self._read_exactly([view[pos:]], n - pos, 9)
                        view, pos, n = memoryview(frame_bytes), 0, 9
                    lt, flags, sid = _FRAME.unpack_from(view, pos)
                    length = lt >> 8
                    if length > _MAX_FRAME:
                        raise ProtocolError(f"plugin {self.name} sent a frame of {length} bytes")
                    if not self.settled.is_set() and lt & 0xFF != SETTINGS:
                        # Checked on the first header, not its payload: garbage read as a length would
                        # otherwise be waited for.
                        raise ProtocolError(f"plugin {self.name} did not speak gRPC on its stdout "
                                            "(no HTTP/2 SETTINGS first)")
                    if n - pos - 9 < length:
                        self._drain(ident)  # what the calls served so far answered goes out before the wait
                        if lt & 0xFF == DATA and length >= _READ_DIRECT:
                            self._frame(DATA, flags, sid & 0x7FFFFFFF, self._read_rest(view[pos + 9:n], length))
                            pos = n
                            continue
                        frame_bytes = self._read_exactly([view[pos:]], n - pos, 9 + length)
                        view, pos, n = memoryview(frame_bytes), 0, 9 + length
                    at = pos + 9
                    pos = at + length
                    self._frame(lt & 0xFF, flags, sid & 0x7FFFFFFF, view[at:pos])
                self.flush()
        except PluginError as e:
            if self.error is None:
                self._lost(str(e).removeprefix(f"plugin {self.name} "), kind=type(e))
        except OSError as e:
            self._lost(f"broke its connection ({e.strerror})")
        except Exception as e:
            self._lost(f"broke the protocol ({type(e).__name__}: {e})")

    def _read_exactly(self, pieces: Parts, have: int, total: int) -> bytes:
        """``pieces`` (``have`` bytes) completed to ``total`` bytes with a read of just what they lack."""
        try:
            rest = read_exactly(self.rfd, total - have)
        except EOFError:
            raise self._lost("closed its connection") from None
        return b"".join([*pieces, rest])

    def _read_rest(self, have: memoryview, length: int) -> memoryview:
        """A large frame's payload (a content chunk) that a read cut short: what was read of it copied
        into a buffer of its own, the rest read straight into that buffer."""
        buf = uninitialized(length)
        buf[:len(have)] = have
        try:
            read_into(self.rfd, buf[len(have):])
        except EOFError:
            raise self._lost("closed its connection") from None
        return buf

    def _drain(self, ident: int) -> None:
        """Mid-read (before a wait on the peer): write what the reader thread held back, and hold on."""
        self.flush()
        if self._inline is not None:
            self._corks[ident] = []

    def _frame(self, ftype: int, flags: int, sid: int, payload: memoryview) -> None:
        """One frame; ``payload`` is a view of a read of its own, which a message may keep."""
        if ftype == DATA:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            self._received += len(payload)
            if self._received >= _CONNECTION_WINDOW // 2:
                self._control(frame(WINDOW_UPDATE, 0, 0, self._received.to_bytes(4, "big")))
                self._received = 0
            c = self._calls.get(sid)
            if c is not None:
                c._data(payload, bool(flags & END_STREAM))
        elif ftype in (HEADERS, CONTINUATION):
            self._headers(ftype, flags, sid, payload)
        elif ftype == SETTINGS:
            if not flags & ACK:
                self._control(frame(SETTINGS, ACK, 0), self._settings(payload))
                self.settled.set()
        elif ftype == WINDOW_UPDATE:
            n = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            with self._window:
                if sid == 0:
                    self._send_window += n
                elif (c := self._calls.get(sid)) is not None:
                    c.send_window += n
                self._window.notify_all()
        elif ftype == PING:
            if not flags & ACK:
                self._control(frame(PING, ACK, 0, bytes(payload)))
        elif ftype == RST_STREAM:
            c = self._calls.pop(sid, None)
            if c is not None:
                code = int.from_bytes(payload[:4], "big")
                with self._window:
                    c.reset = True
                    self._window.notify_all()
                c._finish(CallError(1, f"the peer reset the call (HTTP/2 error {code})"))
        elif ftype == GOAWAY:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            for csid, c in list(self._calls.items()):
                if csid > last:
                    c._finish(CallError(14, "the peer is going away"))
        # PRIORITY and unknown frame types are ignored, as HTTP/2 requires; PUSH_PROMISE is refused by
        # the SETTINGS sent at start.

    def _settings(self, payload: memoryview) -> Callable[[], None] | None:
        """Apply the peer's settings: what narrows what may be sent at once, what widens it only once the
        ACK is out (the returned function, called under the write lock right after it). A peer may hold
        data to the settings it knows to be acknowledged: a frame sent under a larger window or frame
        size that reached it before the ACK would break its flow control (grpcio resets the call)."""
        wider: list[tuple[int, int]] = []
        for at in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, at)
            if key == S_INITIAL_WINDOW and value < self.peer_initial_window:
                self._initial_window(value)
            elif key == S_MAX_FRAME and value < self._peer_max_frame:
                self._peer_max_frame = value
            elif key in (S_INITIAL_WINDOW, S_MAX_FRAME):
                wider.append((key, value))
        if not wider:
            return None

        def widen() -> None:
            for key, value in wider:
                if key == S_INITIAL_WINDOW:
                    self._initial_window(value)
                else:
                    self._peer_max_frame = value

        return widen

    def _initial_window(self, value: int) -> None:
        with self._window:
            delta = value - self.peer_initial_window
            self.peer_initial_window = value
            for c in self._calls.values():
                c.send_window += delta
            self._window.notify_all()

    def _decode(self, block: bytes) -> dict[str, str]:
        """A header block's fields. The blocks of a connection repeat (the same status, the same paths), so
        a block that left the decoder's table as it was is remembered until the table next changes."""
        hit = self._decoded.get(block)
        if hit is not None:
            return hit
        fields: dict[str, str] = dict(self._decoder.decode(block, raw=False))  # type: ignore[arg-type]
        entries = self._decoder.header_table.dynamic_entries
        mark = (len(entries), entries[0] if entries else None)
        if mark[0] != self._table_mark[0] or mark[1] is not self._table_mark[1]:
            self._table_mark = mark
            self._decoded.clear()
        elif len(self._decoded) < 256:
            self._decoded[block] = fields
        return fields

    def _headers(self, ftype: int, flags: int, sid: int, payload: memoryview) -> None:
        if ftype == HEADERS:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
            self._header_block = (sid, flags, bytearray(payload))
        elif self._header_block is None or self._header_block[0] != sid:
            raise ProtocolError(f"plugin {self.name} sent a CONTINUATION out of place")
        else:
            self._header_block[2].extend(payload)
            flags = self._header_block[1] | flags
        if not flags & END_HEADERS:
            return
        sid, first, block = self._header_block
        self._header_block = None
        fields = self._decode(bytes(block))
        end = bool(first & END_STREAM)
        c = self._calls.get(sid)
        if c is None:
            if self.client or sid < self._next_id or not sid & 1:
                return  # a call already reset or forgotten
            self._next_id = sid + 2
            c = Call(self, sid)
            c.headers = fields
            c.path = fields.get(":path", "")
            self._calls[sid] = c
            handler, spawn = self._handler, self._spawn
            if self._inline is not None and self._inline(c.path):
                c.inline = True
            elif handler is not None and spawn is not None:
                spawn(lambda: handler(c))
            if end:
                c._data(_EMPTY, True)
            return
        if "grpc-status" in fields:
            c.status = (int(fields["grpc-status"]), urllib.parse.unquote(fields.get("grpc-message", "")))
        elif not c.headers:
            c.headers = fields
            status = fields.get(":status", "200")
            if status != "200":
                c.status = (14 if status in ("502", "503", "504") else 2, f"HTTP status {status}")
        if end:
            c._data(_EMPTY, True)

