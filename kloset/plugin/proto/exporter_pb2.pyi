from kloset.plugin.proto import connectors_pb2 as _connectors_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Options(_message.Message):
    __slots__ = ("hostname", "os", "arch", "cwd", "maxconcurrency", "excludes", "noxattr")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    MAXCONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    EXCLUDES_FIELD_NUMBER: _ClassVar[int]
    NOXATTR_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os: str
    arch: str
    cwd: str
    maxconcurrency: int
    excludes: _containers.RepeatedScalarFieldContainer[str]
    noxattr: bool
    def __init__(self, hostname: _Optional[str] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., cwd: _Optional[str] = ..., maxconcurrency: _Optional[int] = ..., excludes: _Optional[_Iterable[str]] = ..., noxattr: _Optional[bool] = ...) -> None: ...

class InitRequest(_message.Message):
    __slots__ = ("options", "proto", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PROTO_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    options: Options
    proto: str
    config: _containers.ScalarMap[str, str]
    def __init__(self, options: _Optional[_Union[Options, _Mapping]] = ..., proto: _Optional[str] = ..., config: _Optional[_Mapping[str, str]] = ...) -> None: ...

class InitResponse(_message.Message):
    __slots__ = ("origin", "type", "root", "flags")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    origin: str
    type: str
    root: str
    flags: int
    def __init__(self, origin: _Optional[str] = ..., type: _Optional[str] = ..., root: _Optional[str] = ..., flags: _Optional[int] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("record", "chunk")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    record: _connectors_pb2.Record
    chunk: bytes
    def __init__(self, record: _Optional[_Union[_connectors_pb2.Record, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _connectors_pb2.Result
    def __init__(self, result: _Optional[_Union[_connectors_pb2.Result, _Mapping]] = ...) -> None: ...

class CloseRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CloseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
