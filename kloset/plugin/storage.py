"""A store served by a plugin: the host side of the protocol's Store service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, cast

from ..objects import ResourceType
from ..storage import Mode, Storage
from .launch import Launch
from .proto import store_pb2 as pb
from .transport import CHUNK
from .wire import chunk_decoder, service_path

_PATH = service_path(pb, "Store")
_chunk = chunk_decoder(pb.GetResponse)  # as the importer's Open: no copy through the message



def _wire(rtype: ResourceType) -> pb.StorageResource:
    return cast(pb.StorageResource, int(rtype))  # the numbers are the protocol's (see ResourceType)


# A range's length is a uint32 on the wire: "to the end" is the largest one, which a store cuts short.
_TO_END = 0xFFFFFFFF


class PluginStorage(Storage):
    """Every call goes to the plugin process started for this instance. Subclassed per installed
    connector with its ``launch`` (see :func:`kloset.plugin.installed_class`)."""

    launch: ClassVar[Launch]

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._plugin, sent, proto = self.launch.start(self.config)
        try:
            self._plugin.unary(_PATH + "Init", pb.InitRequest(proto=proto, config=sent), pb.InitResponse.FromString)
        except BaseException:
            self._plugin.close()
            raise

    def create(self, config: bytes) -> None:
        self._plugin.unary(_PATH + "Create", pb.CreateRequest(config=config), pb.CreateResponse.FromString)

    def open(self) -> bytes:
        return self._plugin.unary(_PATH + "Open", pb.OpenRequest(), pb.OpenResponse.FromString).config

    def list(self, rtype: ResourceType) -> list[bytes]:
        reply = self._plugin.unary(_PATH + "List", pb.ListRequest(type=_wire(rtype)), pb.ListResponse.FromString)
        return list(reply.macs)

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        def requests() -> Iterator[pb.PutRequest]:
            yield pb.PutRequest(mac=rid, type=_wire(rtype))
            view = memoryview(data)
            for at in range(0, len(view), CHUNK):
                yield pb.PutRequest(chunk=bytes(view[at:at + CHUNK]))

        return self._plugin.upload(_PATH + "Put", requests(), pb.PutResponse.FromString).bytes_written

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        request = pb.GetRequest(mac=rid, type=_wire(rtype))
        if offset or length is not None:
            request.range.offset = offset
            request.range.length = _TO_END if length is None else min(length, _TO_END)
        return b"".join(self._plugin.stream(_PATH + "Get", request, _chunk))

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        self._plugin.unary(_PATH + "Delete", pb.DeleteRequest(mac=rid, type=_wire(rtype)), pb.DeleteResponse.FromString)

    def ping(self) -> None:
        self._plugin.unary(_PATH + "Ping", pb.PingRequest(), pb.PingResponse.FromString)

    def mode(self) -> Mode:
        return Mode(self._plugin.unary(_PATH + "Mode", pb.ModeRequest(), pb.ModeResponse.FromString).mode)

    def size(self) -> int:
        return self._plugin.unary(_PATH + "Size", pb.SizeRequest(), pb.SizeResponse.FromString).size

    def close(self) -> None:
        if self._plugin.closed:
            return
        if self._plugin.failed:
            self._plugin.close()
            return
        try:
            self._plugin.unary(_PATH + "Close", pb.CloseRequest(), pb.CloseResponse.FromString)
        finally:
            self._plugin.close()
