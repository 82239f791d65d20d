"""A store served by a plugin: the host side of the protocol's Store service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, cast

from ..objects import ResourceType
from ..storage import Mode, Storage
from .launch import Launch
from .proto import store_pb2 as pb
from .proto import store_pb2_grpc as rpc
from .transport import CHUNK


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
            self._stub = rpc.StoreStub(self._plugin.channel)
            self._plugin.call(self._stub.Init, pb.InitRequest(proto=proto, config=sent))
        except BaseException:
            self._plugin.close()
            raise

    def create(self, config: bytes) -> None:
        self._plugin.call(self._stub.Create, pb.CreateRequest(config=config))

    def open(self) -> bytes:
        return self._plugin.call(self._stub.Open, pb.OpenRequest()).config

    def list(self, rtype: ResourceType) -> list[bytes]:
        return list(self._plugin.call(self._stub.List, pb.ListRequest(type=_wire(rtype))).macs)

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        def requests() -> Iterator[pb.PutRequest]:
            yield pb.PutRequest(mac=rid, type=_wire(rtype))
            view = memoryview(data)
            for at in range(0, len(view), CHUNK):
                yield pb.PutRequest(chunk=bytes(view[at:at + CHUNK]))

        return self._plugin.call(self._stub.Put, requests()).bytes_written

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        request = pb.GetRequest(mac=rid, type=_wire(rtype))
        if offset or length is not None:
            request.range.offset = offset
            request.range.length = _TO_END if length is None else min(length, _TO_END)
        return b"".join(m.chunk for m in self._plugin.stream(self._stub.Get(request)))

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        self._plugin.call(self._stub.Delete, pb.DeleteRequest(mac=rid, type=_wire(rtype)))

    def ping(self) -> None:
        self._plugin.call(self._stub.Ping, pb.PingRequest())

    def mode(self) -> Mode:
        return Mode(self._plugin.call(self._stub.Mode, pb.ModeRequest()).mode)

    def size(self) -> int:
        return self._plugin.call(self._stub.Size, pb.SizeRequest()).size

    def close(self) -> None:
        if self._plugin.closed:
            return
        try:
            self._plugin.call(self._stub.Close, pb.CloseRequest())
        finally:
            self._plugin.close()
