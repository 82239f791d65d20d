"""A destination served by a plugin: the host side of the protocol's Exporter service.

One ``Export`` stream carries the whole restore. Each entry goes as one record with its metadata (a
file's content follows in chunks, an empty chunk ending it) and the plugin answers each record with a
Result before the next is sent, so that an error belongs to the entry that caused it. The plugin applies
each entry's metadata itself (a directory's once the stream ends, after its contents); extended
attributes follow their entry as records of their own (``isXattr``), each with its value as content.
Paths are sent as ``/`` plus the path below the destination's root.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import ClassVar

from ..errors import PluginError
from ..exporter import Exporter, checked_parts
from ..importer import ImporterOptions
from ..objects import FileInfo
from .http2 import Call
from .launch import Launch, options_fields
from .proto import connectors_pb2 as cpb
from .proto import exporter_pb2 as pb
from .transport import CHUNK
from .wire import error_of_result, file_info_message, service_path

_PATH = service_path(pb, "Exporter")


class PluginExporter(Exporter):
    launch: ClassVar[Launch]

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._plugin, sent, proto = self.launch.start(self.config)
        try:
            init = pb.InitRequest(options=pb.Options(**options_fields(ImporterOptions())),  # type: ignore[arg-type]
                                  proto=proto, config=sent)
            self._root = self._plugin.unary(_PATH + "Init", init, pb.InitResponse.FromString).root
        except BaseException:
            self._plugin.close()
            raise
        self._export: Call | None = None
        self._results: Iterator[pb.ExportResponse] | None = None
        # The restore writes files from several threads; the stream pairs each record with its answer.
        self._lock = threading.Lock()

    @property
    def root(self) -> str:
        return self._root

    def _send(self, record: cpb.Record, content: Iterable[bytes] | None = None) -> None:
        """Send one record (and its content) and wait for the plugin's answer to it."""
        with self._lock:
            self._exchange(record, content)

    def _exchange(self, record: cpb.Record, content: Iterable[bytes] | None) -> None:
        if self._export is None:
            self._export = self._plugin.call(_PATH + "Export", reply=pb.ExportResponse.FromString)
            self._results = self._plugin.replies(self._export)
        call, send = self._export, self._plugin.send
        send(call, pb.ExportRequest(record=record))
        if content is not None:
            for piece in content:
                view = memoryview(piece)
                for at in range(0, len(view), CHUNK):
                    send(call, pb.ExportRequest(chunk=bytes(view[at:at + CHUNK])))
            send(call, pb.ExportRequest(chunk=b""))
        answer = next(self._results, None)  # type: ignore[arg-type]
        if answer is None:
            raise PluginError(f"plugin {self._plugin.name} ended the restore without answering for {record.pathname}")
        if answer.result.error:
            raise error_of_result(answer.result.error)

    def _record(self, path: str, info: FileInfo, **fields: object) -> cpb.Record:
        checked_parts(path, f"plugin {self._plugin.name}")  # a leading "/" on the wire would hide a bad path
        return cpb.Record(pathname="/" + path, fileInfo=file_info_message(info), **fields)  # type: ignore[arg-type]

    def mkdir(self, path: str, info: FileInfo) -> None:
        self._send(self._record(path, info))

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        self._send(self._record(path, info, hasReader=True), content)

    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        self._send(self._record(path, info, target=target))

    def special(self, path: str, info: FileInfo) -> None:
        self._send(self._record(path, info))

    def set_attributes(self, path: str, info: FileInfo, xattrs: dict[str, bytes]) -> None:
        for name, value in xattrs.items():
            rec = self._record(path, info, isXattr=True, xattrName=name, hasReader=True,
                               xattrType=cpb.EXTENDED_ATTRIBUTE_TYPE_EXTENDED)
            self._send(rec, [value])

    def ping(self) -> None:
        self._plugin.unary(_PATH + "Ping", pb.PingRequest(), pb.PingResponse.FromString)

    def close(self) -> None:
        if self._plugin.closed:
            return
        if self._plugin.failed:
            self._plugin.close()
            return
        try:
            if self._export is not None:
                self._export.end()
                for _ in self._results or ():  # the plugin applies what it deferred, then ends the stream
                    pass
            self._plugin.unary(_PATH + "Close", pb.CloseRequest(), pb.CloseResponse.FromString)
        finally:
            self._plugin.close()
