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

from ..errors import KlosetError, PluginError
from ..importer import Importer, ImporterOptions, LocationFlags
from ..objects import Record
from .http2 import Call
from .launch import Launch, options_fields
from .proto import connectors_pb2 as cpb
from .proto import importer_pb2 as pb
from .wire import file_info, record_key, service_path

_PATH = service_path(pb, "Importer")


class PluginImporter(Importer):
    launch: ClassVar[Launch]
    # Plugins yield records in an order of their own, which the backup puts right.
    ordered = False

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._plugin, sent, proto = self.launch.start(self.config)
        try:
            init = pb.InitRequest(options=pb.Options(**options_fields(self.options)),  # type: ignore[arg-type]
                                  proto=proto, config=sent)
            r = self._plugin.unary(_PATH + "Init", init, pb.InitResponse.FromString)
        except BaseException:
            self._plugin.close()
            raise
        self._origin, self._type, self._root = r.origin, r.type, r.root
        self._flags = LocationFlags(r.flags)
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
        if self._flags & LocationFlags.NEEDACK and self._import is not None:
            self._unacked.pop(record_key(header), None)
            self._plugin.send(self._import, pb.ImportRequest(result=cpb.Result(header=header, error=error)))

    def scan(self) -> Iterator[Record]:
        held: cpb.Record | None = None  # the last record, waiting for the attributes that follow it
        attributes: list[cpb.Record] = []
        self._import = self._plugin.call(_PATH + "Import")
        # The call outlives the scan: acknowledgements (needack) go on it until the importer is closed.
        for response in self._plugin.replies(self._import, pb.ImportResponse.FromString, cancel=False):
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
            out.open = functools.partial(self._open, rec)
            if self._flags & LocationFlags.NEEDACK:
                self._unacked[record_key(rec)] = rec
        else:
            self._ack(rec)
        if attributes:
            out.load_xattrs = functools.partial(self._xattrs, attributes)
            if self._flags & LocationFlags.NEEDACK:
                self._unacked.update((record_key(a), a) for a in attributes)
        return out

    def _open(self, rec: cpb.Record) -> BinaryIO:
        stream = self._plugin.stream(_PATH + "Open", pb.OpenRequest(record=rec), pb.OpenResponse.FromString)
        return cast(BinaryIO, Content(stream, functools.partial(self._ack, rec)))

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
            for m in self._chunks:
                if m.chunk:
                    self._buf = memoryview(m.chunk)
                    return True
        return False

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = [bytes(self._buf)]
            self._buf = memoryview(b"")
            with _as_os_error():
                parts.extend(m.chunk for m in self._chunks)
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
