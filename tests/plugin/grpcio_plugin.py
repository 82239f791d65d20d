"""A plugin written against grpcio, as a foreign plugin would be (Plakar's are Go's gRPC), serving the fs
importer or the fs store: ``grpcio_plugin.py importer|storage``.

grpcio serves addresses, not a file descriptor, so the process relays between its stdin/stdout and a
grpcio server on a Unix socket of its own. The host cannot tell: the bytes on the pipe are grpcio's
HTTP/2.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
from grpcio_services import handler

from kloset.connectors.fs.importer import FSImporter
from kloset.connectors.fs.store import FSStore
from kloset.errors import ConfigError, NotFound, StoreNotFound
from kloset.importer import ImporterOptions
from kloset.objects import ResourceType
from kloset.plugin.proto import connectors_pb2 as cpb
from kloset.plugin.proto import importer_pb2 as ipb
from kloset.plugin.proto import store_pb2 as spb
from kloset.plugin.wire import STORE_NOT_FOUND, file_info_message

CHUNK = 1 << 20


class Importer:
    """With the config key ``acks=FILE``, asks for acknowledgements (the ``needack`` flag) and writes the
    path of each one it gets to FILE, a line each, when it is closed."""

    def __init__(self) -> None:
        self.importer: FSImporter | None = None
        self.readers: dict[str, Any] = {}
        self.acks: list[str] = []
        self.acks_thread: threading.Thread | None = None
        self.report = ""

    def Init(self, request: Any, context: Any) -> ipb.InitResponse:
        config = dict(request.config)
        self.report = config.pop("acks", "")
        options = ImporterOptions(hostname=request.options.hostname, excludes=list(request.options.excludes))
        self.importer = FSImporter(config, options)
        return ipb.InitResponse(origin=self.importer.origin, type=self.importer.type, root=self.importer.root,
                                flags=8 if self.report else 0)

    def Ping(self, request: Any, context: Any) -> ipb.PingResponse:
        return ipb.PingResponse()

    def _acknowledged(self, requests: Iterator[Any]) -> None:
        with contextlib.suppress(grpc.RpcError):
            for request in requests:
                self.acks.append(request.result.header.pathname)

    def Import(self, requests: Iterator[Any], context: Any) -> Iterator[ipb.ImportResponse]:
        assert self.importer is not None
        self.acks_thread = acks = threading.Thread(target=self._acknowledged, args=(requests,), daemon=True)
        acks.start()
        for rec in self.importer.scan():
            m = cpb.Record(pathname=rec.pathname, target=rec.target, error=rec.error or "")
            if rec.info is not None:
                m.fileInfo.CopyFrom(file_info_message(rec.info))
            if rec.open is not None:
                m.hasReader = True
                self.readers[rec.pathname] = rec.open
            yield ipb.ImportResponse(record=m)
        yield ipb.ImportResponse(finished=True)
        if self.report:  # the acknowledgements come on this call: it lasts until the host ends its side
            acks.join()

    def Open(self, request: Any, context: Any) -> Iterator[ipb.OpenResponse]:
        opener = self.readers.pop(request.record.pathname, None)
        if opener is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.record.pathname}: no reader")
        with opener() as f:
            while chunk := f.read(CHUNK):
                yield ipb.OpenResponse(chunk=chunk)

    def Close(self, request: Any, context: Any) -> ipb.CloseResponse:
        if self.report:
            # The host ends the import before it closes, but grpcio hands the last acknowledgements to
            # their thread on a schedule of its own.
            if self.acks_thread is not None:
                self.acks_thread.join(10)
            with open(self.report, "w") as f:
                f.writelines(path + "\n" for path in self.acks)
        return ipb.CloseResponse()


class Store:
    def __init__(self) -> None:
        self.store: FSStore | None = None

    def _call(self, context: Any, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except StoreNotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, STORE_NOT_FOUND + str(e))
        except NotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except ConfigError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

    def Init(self, request: Any, context: Any) -> spb.InitResponse:
        self.store = FSStore(dict(request.config))
        return spb.InitResponse(origin="local", type="fs", root=self.store.location)

    def Create(self, request: Any, context: Any) -> spb.CreateResponse:
        self._call(context, self.store.create, request.config)  # type: ignore[union-attr]
        return spb.CreateResponse()

    def Open(self, request: Any, context: Any) -> spb.OpenResponse:
        return spb.OpenResponse(config=self._call(context, self.store.open))  # type: ignore[union-attr]

    def Ping(self, request: Any, context: Any) -> spb.PingResponse:
        return spb.PingResponse()

    def Mode(self, request: Any, context: Any) -> spb.ModeResponse:
        return spb.ModeResponse(mode=6)

    def Size(self, request: Any, context: Any) -> spb.SizeResponse:
        return spb.SizeResponse(size=-1)

    def List(self, request: Any, context: Any) -> spb.ListResponse:
        return spb.ListResponse(macs=self.store.list(ResourceType(request.type)))  # type: ignore[union-attr]

    def Put(self, requests: Iterator[Any], context: Any) -> spb.PutResponse:
        head = next(requests)
        data = b"".join(r.chunk for r in requests)
        n = self.store.put(ResourceType(head.type), head.mac, data)  # type: ignore[union-attr]
        return spb.PutResponse(bytes_written=n)

    def Get(self, request: Any, context: Any) -> Iterator[spb.GetResponse]:
        args = (request.range.offset, request.range.length) if request.HasField("range") else ()
        data = self._call(context, self.store.get, ResourceType(request.type), request.mac, *args)  # type: ignore[union-attr]
        for at in range(0, max(len(data), 1), CHUNK):
            yield spb.GetResponse(chunk=data[at:at + CHUNK])

    def Delete(self, request: Any, context: Any) -> spb.DeleteResponse:
        self.store.delete(ResourceType(request.type), request.mac)  # type: ignore[union-attr]
        return spb.DeleteResponse()

    def Close(self, request: Any, context: Any) -> spb.CloseResponse:
        return spb.CloseResponse()


def relay(src: int, dst: int) -> None:
    with contextlib.suppress(OSError):  # the other side is gone: so is the relay's purpose
        while data := os.read(src, CHUNK):
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(8), options=[("grpc.max_receive_message_length", -1)])
    if sys.argv[1] == "importer":
        server.add_generic_rpc_handlers((handler(ipb, "Importer", Importer()),))
    else:
        server.add_generic_rpc_handlers((handler(spb, "Store", Store()),))
    path = os.path.join(tempfile.mkdtemp(), "grpc.sock")
    server.add_insecure_port("unix:" + path)
    server.start()
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    threading.Thread(target=relay, args=(sock.fileno(), 1), daemon=True).start()
    relay(0, sock.fileno())  # until the host closes our stdin
    server.stop(1)


if __name__ == "__main__":
    main()
