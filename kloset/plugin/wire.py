"""What crosses the plugin boundary, both ways: file metadata and records as the protocol's messages, and
kloset's errors as gRPC status codes.

The protocol carries Go's ``fs.FileMode`` bits, not POSIX ``st_mode``, and has no field for ctime or a
device's rdev: those arrive as 0 (an incremental backup through a plugin then compares size, mtime and
inode). Strings must be valid UTF-8 on the wire, so a name that is not cannot cross it.
"""

from __future__ import annotations

import enum
import functools
import stat
from collections.abc import Callable
from typing import Any

from .. import errors
from ..buffers import Buffer, Parts
from ..objects import FileInfo
from .proto import connectors_pb2 as pb

# Go's fs.FileMode type bits (io/fs): the protocol's mode field is Go's, so that Plakar's plugins and
# ours read it alike.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_NAMED_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHAR_DEVICE = 1 << 21
GO_STICKY = 1 << 20
GO_IRREGULAR = 1 << 19

_TYPES = ((stat.S_IFDIR, GO_DIR), (stat.S_IFLNK, GO_SYMLINK), (stat.S_IFIFO, GO_NAMED_PIPE),
          (stat.S_IFSOCK, GO_SOCKET), (stat.S_IFBLK, GO_DEVICE), (stat.S_IFCHR, GO_DEVICE | GO_CHAR_DEVICE))
_BITS = ((stat.S_ISUID, GO_SETUID), (stat.S_ISGID, GO_SETGID), (stat.S_ISVTX, GO_STICKY))


#: Metadata of an importer's Init reply, beyond the protocol: "1" when the plugin's records come in
#: snapshot order (Importer.ordered), so that the host streams them into the backup as they come rather
#: than sorting the whole scan first. A host that does not know it ignores it, as gRPC metadata is.
ORDERED = "kloset-ordered"


@functools.lru_cache(maxsize=1024)
def go_mode(mode: int) -> int:
    """POSIX st_mode -> Go fs.FileMode."""
    fmt = stat.S_IFMT(mode)
    out = mode & 0o777
    for posix, go in _TYPES:
        if fmt == posix:
            out |= go
            break
    for posix, go in _BITS:
        if mode & posix:
            out |= go
    return out


@functools.lru_cache(maxsize=1024)  # a scan has a few modes, met once a file
def posix_mode(mode: int) -> int:
    """Go fs.FileMode -> POSIX st_mode (a regular file when no type bit is set)."""
    if mode & GO_DIR:
        fmt = stat.S_IFDIR
    elif mode & GO_SYMLINK:
        fmt = stat.S_IFLNK
    elif mode & GO_NAMED_PIPE:
        fmt = stat.S_IFIFO
    elif mode & GO_SOCKET:
        fmt = stat.S_IFSOCK
    elif mode & GO_DEVICE:
        fmt = stat.S_IFCHR if mode & GO_CHAR_DEVICE else stat.S_IFBLK
    else:
        fmt = stat.S_IFREG
    out = fmt | (mode & 0o777)
    for posix, go in _BITS:
        if mode & go:
            out |= posix
    return out


def file_info_message(info: FileInfo) -> pb.FileInfo:
    m = pb.FileInfo()
    fill_file_info(m, info)
    return m


def fill_file_info(m: pb.FileInfo, info: FileInfo) -> None:
    """Set ``m``'s fields from ``info``: in place, as a record's field, costs half of building the message
    and copying it in (a scan sends one a file)."""
    m.mod_time.seconds, m.mod_time.nanos = divmod(info.mtime_ns, 1_000_000_000)
    m.name, m.size, m.mode, m.dev, m.ino = info.name, info.size, go_mode(info.mode), info.dev, info.ino
    m.uid, m.gid, m.nlink, m.username, m.groupname = info.uid, info.gid, info.nlink, info.username, info.groupname


def file_info(m: pb.FileInfo) -> FileInfo:
    # Positional, in FileInfo's field order (ctime is not carried): half the cost of keywords, once a file.
    t = m.mod_time
    return FileInfo(m.name, m.size, posix_mode(m.mode), t.seconds * 1_000_000_000 + t.nanos, 0, m.dev, m.ino,
                    m.uid, m.gid, m.nlink, m.username, m.groupname)


def utf8(text: str) -> bool:
    """Whether a string can go on the wire (kloset carries undecodable name bytes as lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def xattr_key(path: str, name: str) -> str:
    """The key a plugin keeps an extended attribute's reader under (PROTOCOL.md, importer semantics)."""
    return f"xattr:{path}:{name}"


def record_key(rec: Any) -> str:
    """The key a record's reader is kept under, and acknowledged by: its path, or an attribute's key."""
    return xattr_key(rec.pathname, rec.xattrName) if rec.isXattr else rec.pathname


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def chunk_encoder(message_class: Any, field: str = "chunk") -> Callable[[Buffer], Parts]:
    """What serializes a message whose one field set is the bytes field ``field``, as parts: its tag and
    length, then the content as it is. Serializing through the message would copy a megabyte of
    content twice (into the field, then into the message's bytes) for each chunk a plugin sends."""
    descriptor = message_class.DESCRIPTOR.fields_by_name[field]
    if descriptor.type != descriptor.TYPE_BYTES:
        raise TypeError(f"{message_class.__name__}.{field} is not a bytes field")
    tag = _varint(descriptor.number << 3 | 2)  # wire type 2: length-delimited

    def encode(chunk: Buffer) -> Parts:
        return [tag + _varint(len(chunk)), chunk] if len(chunk) else []  # proto3 leaves an empty field out

    return encode


def chunk_decoder(message_class: Any, field: str = "chunk") -> Callable[[Buffer], Buffer]:
    """What takes the bytes field ``field`` out of a serialized message: a view of the buffer when it is
    the message's one field, as the plugins send it, else through the message class. Parsing
    through the class would copy a chunk twice, into its arena and then into the bytes returned."""
    number = message_class.DESCRIPTOR.fields_by_name[field].number
    tag = _varint(number << 3 | 2)
    skip = len(tag)

    def decode(data: Buffer) -> Buffer:
        view = memoryview(data)
        if view[:skip] == tag:
            n, at = 0, skip
            for shift in range(0, 35, 7):  # the length's varint; a chunk's fits in five bytes
                if at >= len(view):
                    break
                b = view[at]
                at += 1
                n |= (b & 0x7F) << shift
                if not b & 0x80:
                    if at + n == len(view):
                        return view[at:]
                    break
        return bytes(getattr(message_class.FromString(bytes(view)), field))

    return decode


def service_path(module: Any, service: str) -> str:
    """``/PACKAGE.SERVICE/``, which a method's name completes into the path gRPC calls it by."""
    return f"/{module.DESCRIPTOR.services_by_name[service].full_name}/"


class Status(enum.IntEnum):
    """gRPC's status codes (the numbers of the gRPC over HTTP/2 spec)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# kloset's errors <-> gRPC status codes. A plugin's typed error comes back to the host as the same type;
# the first class a code names is the one the host raises.
_CODES: tuple[tuple[type[errors.KlosetError], Status], ...] = (
    (errors.StoreNotFound, Status.NOT_FOUND),
    (errors.NotFound, Status.NOT_FOUND),
    (errors.AuthenticationError, Status.UNAUTHENTICATED),
    (errors.TransientError, Status.UNAVAILABLE),
    (errors.IntegrityError, Status.DATA_LOSS),
    (errors.UnsafePathError, Status.PERMISSION_DENIED),
    (errors.Unsupported, Status.UNIMPLEMENTED),
    (errors.LockError, Status.ABORTED),
    (errors.ConfigError, Status.INVALID_ARGUMENT),
)
# Marks the detail of a status set by a kloset plugin from a StoreNotFound, which shares NOT_FOUND.
STORE_NOT_FOUND = "store not found: "


def status_of(e: BaseException) -> tuple[Status, str]:
    """The status a plugin answers a failed call with."""
    if isinstance(e, errors.KlosetError):
        for cls, code in _CODES:
            if isinstance(e, cls):
                return code, (STORE_NOT_FOUND if cls is errors.StoreNotFound else "") + str(e)
        return Status.UNKNOWN, str(e)
    if isinstance(e, FileNotFoundError):
        return Status.NOT_FOUND, str(e)
    if isinstance(e, OSError):
        return Status.UNAVAILABLE, str(e)
    return Status.INTERNAL, f"{type(e).__name__}: {e}"


def error_of(code: int, detail: str, plugin: str) -> errors.KlosetError:
    """The host's error for a status a plugin answered with."""
    if code == Status.NOT_FOUND and detail.startswith(STORE_NOT_FOUND):
        return errors.StoreNotFound(f"plugin {plugin}: {detail[len(STORE_NOT_FOUND):]}")
    for cls, c in _CODES:
        if c == code and cls is not errors.StoreNotFound:
            return cls(f"plugin {plugin}: {detail}")
    name = Status(code).name if code in Status._value2member_map_ else str(code)
    return errors.PluginError(f"plugin {plugin}: {detail or name}")


def result_error(e: BaseException) -> str:
    """An exporter's error as a Result carries it: text, led by the class of a kloset error so that the
    host can raise the same type (another host shows it as it is)."""
    if isinstance(e, errors.KlosetError):
        for cls, _ in _CODES:
            if isinstance(e, cls):
                return f"{cls.__name__}: {e}"
    return str(e)


def error_of_result(text: str) -> errors.KlosetError:
    """The host's error for a Result's error text (see :func:`result_error`)."""
    name, sep, rest = text.partition(": ")
    for cls, _ in _CODES:
        if sep and name == cls.__name__:
            return cls(rest)
    return errors.KlosetError(text)
