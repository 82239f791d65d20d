import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExtendedAttributeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTENDED_ATTRIBUTE_TYPE_UNSPECIFIED: _ClassVar[ExtendedAttributeType]
    EXTENDED_ATTRIBUTE_TYPE_EXTENDED: _ClassVar[ExtendedAttributeType]
    EXTENDED_ATTRIBUTE_TYPE_ADS: _ClassVar[ExtendedAttributeType]
EXTENDED_ATTRIBUTE_TYPE_UNSPECIFIED: ExtendedAttributeType
EXTENDED_ATTRIBUTE_TYPE_EXTENDED: ExtendedAttributeType
EXTENDED_ATTRIBUTE_TYPE_ADS: ExtendedAttributeType

class FileInfo(_message.Message):
    __slots__ = ("name", "size", "mode", "mod_time", "dev", "ino", "uid", "gid", "nlink", "username", "groupname", "flags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MOD_TIME_FIELD_NUMBER: _ClassVar[int]
    DEV_FIELD_NUMBER: _ClassVar[int]
    INO_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    GID_FIELD_NUMBER: _ClassVar[int]
    NLINK_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    GROUPNAME_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    mode: int
    mod_time: _timestamp_pb2.Timestamp
    dev: int
    ino: int
    uid: int
    gid: int
    nlink: int
    username: str
    groupname: str
    flags: int
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., mod_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dev: _Optional[int] = ..., ino: _Optional[int] = ..., uid: _Optional[int] = ..., gid: _Optional[int] = ..., nlink: _Optional[int] = ..., username: _Optional[str] = ..., groupname: _Optional[str] = ..., flags: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("hasReader", "pathname", "error", "isXattr", "xattrName", "xattrType", "target", "fileInfo", "extendedAttributes", "fileAttributes")
    HASREADER_FIELD_NUMBER: _ClassVar[int]
    PATHNAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ISXATTR_FIELD_NUMBER: _ClassVar[int]
    XATTRNAME_FIELD_NUMBER: _ClassVar[int]
    XATTRTYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    FILEINFO_FIELD_NUMBER: _ClassVar[int]
    EXTENDEDATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    FILEATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    hasReader: bool
    pathname: str
    error: str
    isXattr: bool
    xattrName: str
    xattrType: ExtendedAttributeType
    target: str
    fileInfo: FileInfo
    extendedAttributes: _containers.RepeatedScalarFieldContainer[str]
    fileAttributes: int
    def __init__(self, hasReader: _Optional[bool] = ..., pathname: _Optional[str] = ..., error: _Optional[str] = ..., isXattr: _Optional[bool] = ..., xattrName: _Optional[str] = ..., xattrType: _Optional[_Union[ExtendedAttributeType, str]] = ..., target: _Optional[str] = ..., fileInfo: _Optional[_Union[FileInfo, _Mapping]] = ..., extendedAttributes: _Optional[_Iterable[str]] = ..., fileAttributes: _Optional[int] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("header", "error")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    header: Record
    error: str
    def __init__(self, header: _Optional[_Union[Record, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
