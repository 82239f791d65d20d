"""A source served by a plugin: the host side of the protocol's Importer service.

The plugin streams records; an extended attribute comes as a record of its own right after its file's
(``isXattr``), and every content, a file's or an attribute's, is read with an ``Open`` call of its own.
When the plugin's flags ask for acknowledgements (``needack``), each record is answered once the host is
done with it: when its content has been read, or at once when it has none.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar, cast

from ..buffers import Parts
from ..errors import KlosetError, PluginError
from ..importer import BatchOpener, Importer, ImporterOptions, LocationFlags
from ..objects import Record
from .http2 import Call, CallError
from .launch import Launch, options_fields
from .proto import connectors_pb2 as cpb
from .proto import importer_pb2 as pb
from .wire import ORDERED, chunk_decoder, file_info, record_key, service_path

_PATH = service_path(pb, "Importer")
_OPEN = _PATH + "Open"
_chunk = chunk_decoder(pb.OpenResponse)


class _Opener(BatchOpener):
    """A file's content, read with an Open call of its own or with its batch's."""

    __slots__ = ("importer", "record")

    def __init__(self, importer: PluginImporter, record: cpb.Record) -> None:
        self.importer = importer
        self.record = record

    def __call__(self) -> BinaryIO:
        return self.importer._open(self.record)

    def fetch(self, batch: list[BatchOpener]) -> list[Parts | OSError]:
        return self.importer._fetch(cast(list[_Opener], batch))


class PluginImporter(Importer):
    launch: ClassVar[Launch]

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._plugin, sent, proto = self.launch.start(self.config)
        try:
            init = pb.InitRequest(options=pb.Options(**options_fields(self.options)),  # type: ignore[arg-type]
                                  proto=proto, config=sent)
            headers: dict[str, str] = {}
            r = self._plugin.unary(_PATH + "Init", init, pb.InitResponse.FromString, headers)
        except BaseException:
            self._plugin.close()
            raise
        # A plugin yields records in an order of its own, which the backup puts right, unless it says
        # they come in snapshot order (which the backup checks as they come).
        self.ordered = headers.get(ORDERED) == "1"
        # The connection's thread reads and parses the records: the backup needs no thread of its own to
        # wait on them.
        self.scan_blocks = False
        self._origin, self._type, self._root = r.origin, r.type, r.root
        self._flags = LocationFlags(r.flags)
        self._needack = bool(self._flags & LocationFlags.NEEDACK)
        self._import: Call | None = None
        self._unacked: dict[str, cpb.Record] = {}  # records with content, needack only

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def type(self) -> str:
        return self._type

    @property
    def root(self) -> str:
        return self._root

    @property
    def flags(self) -> LocationFlags:
        return self._flags

    def _ack(self, header: cpb.Record, error: str = "") -> None:
        if self._needack and self._import is not None:
            self._unacked.pop(record_key(header), None)
            self._plugin.send(self._import, pb.ImportRequest(result=cpb.Result(header=header, error=error)))

    def scan(self) -> Iterator[Record]:
        held: cpb.Record | None = None  # the last record, waiting for the attributes that follow it
        attributes: list[cpb.Record] = []
        self._import = self._plugin.call(_PATH + "Import", reply=pb.ImportResponse.FromString)
        # The call outlives the scan: acknowledgements (needack) go on it until the importer is closed.
        for response in self._plugin.replies(self._import, cancel=False):
            if response.finished:
                break
            rec = response.record
            if rec.isXattr:
                attributes.append(rec)
                continue
            if held is not None:
                yield self._record(held, attributes)
                attributes = []
            held = rec
        if held is not None:
            yield self._record(held, attributes)

    def _record(self, rec: cpb.Record, attributes: list[cpb.Record]) -> Record:
        out = Record(rec.pathname, info=file_info(rec.fileInfo) if rec.HasField("fileInfo") else None,
                     target=rec.target, error=rec.error or None)
        if rec.hasReader and not rec.error:
            out.open = _Opener(self, rec)
            if self._needack:
                self._unacked[record_key(rec)] = rec
        elif self._needack:
            self._ack(rec)
        if attributes:
            out.load_xattrs = functools.partial(self._xattrs, attributes)
            if self._needack:
                self._unacked.update((record_key(a), a) for a in attributes)
        return out

    def _open(self, rec: cpb.Record) -> BinaryIO:
        stream = self._plugin.stream(_OPEN, pb.OpenRequest(record=rec), _chunk)
        return cast(BinaryIO, Content(stream, functools.partial(self._ack, rec)))

    def _fetch(self, batch: list[_Opener]) -> list[Parts | OSError]:
        """The contents of a batch of files: every Open goes out in one write, then the answers are
        taken as they come, without a file object between (see BatchOpener)."""
        plugin = self._plugin
        with plugin.batch():
            calls = [plugin.call(_OPEN, pb.OpenRequest(record=o.record), _chunk) for o in batch]
        out: list[Parts | OSError] = []
        timeout = plugin.timeout
        for i, (opener, call) in enumerate(zip(batch, calls, strict=True)):
            parts: Parts = []
            try:
                while (chunk := call.recv(timeout)) is not None:
                    parts.append(chunk)
            except (CallError, TimeoutError, PluginError) as e:
                error = plugin.error(e)
                if isinstance(error, PluginError):
                    for later in calls[i:]:
                        later.cancel()
                    raise error from None
                out.append(OSError(str(error)))
            else:
                out.append(parts)
            self._ack(opener.record)
        return out

    def _xattrs(self, attributes: list[cpb.Record]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for rec in attributes:
            with self._open(rec) as f:
                out[rec.xattrName] = f.read()
        return out

    def ping(self) -> None:
        self._plugin.unary(_PATH + "Ping", pb.PingRequest(), pb.PingResponse.FromString)

    def close(self) -> None:
        if self._plugin.closed:
            return
        if self._plugin.failed:
            self._plugin.close()
            return
        try:
            if self._import is not None and not self._import.done:
                # What the backup did not read (unchanged or empty files) it is done with all the same.
                for rec in list(self._unacked.values()):
                    self._ack(rec)
                self._import.end()
            self._plugin.unary(_PATH + "Close", pb.CloseRequest(), pb.CloseResponse.FromString)
        finally:
            self._plugin.close()


@contextlib.contextmanager
def _as_os_error() -> Iterator[None]:
    """The plugin's answer that a file cannot be read is an error of that file (an OSError, which the
    backup records and goes on); a plugin that broke is the backup's failure."""
    try:
        yield
    except PluginError:
        raise
    except KlosetError as e:
        raise OSError(str(e)) from e


class Content(io.RawIOBase):
    """A file's content as it streams from ``Open``: a read-only file object over the chunks."""

    def __init__(self, chunks: Iterator[Any], done: Any) -> None:
        super().__init__()
        self._chunks = chunks
        self._done = done
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _more(self) -> bool:
        with _as_os_error():
            for chunk in self._chunks:
                if chunk:
                    self._buf = memoryview(chunk)
                    return True
        return False

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = [bytes(self._buf)]
            self._buf = memoryview(b"")
            with _as_os_error():
                parts.extend(self._chunks)
            return b"".join(parts)
        if not self._buf and not self._more():
            return b""
        out = bytes(self._buf[:n])
        self._buf = self._buf[n:]
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
            self._done()
        super().close()
