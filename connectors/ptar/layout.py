"""The byte layout of a ptar file (docs/format.md, section "The ptar file"): header, table, footer.

Pure encoding and decoding with the checks a reader must make; no file is opened here.

    header     "KLOSETPT" || version u32 || config length u32 || config
    resources  the bytes of each resource, back to back, in the order they were put
    table      one 49-byte entry per resource: type u8 || ID (32) || offset u64 || length u64
    footer     table offset u64 || table length u64 || digest (32) || version u32 || 0 u32 || "KLOSETPT"

Integers are little-endian. ``digest`` is unkeyed BLAKE3 of the header, the config and the table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import blake3

from kloset.errors import IntegrityError
from kloset.objects import ID_SIZE, ResourceType

MAGIC = b"KLOSETPT"
VERSION = 1
HEADER = struct.Struct("<8sII")
ENTRY = struct.Struct("<B32sQQ")
FOOTER = struct.Struct("<QQ32sII8s")
#: The resource types a table may hold: locks live in memory while a file is written, never in it.
SEALED_TYPES = frozenset({ResourceType.PACKFILE, ResourceType.STATE})

Key = tuple[ResourceType, bytes]
Extent = tuple[int, int]  # (offset in the file, length)


def header(config: bytes) -> bytes:
    return HEADER.pack(MAGIC, VERSION, len(config)) + config


def digest(head: bytes, table: bytes) -> bytes:
    return blake3.blake3(head + table).digest()


def table(entries: dict[Key, Extent]) -> bytes:
    """The table of the sealed resources, ordered by (type, ID) so that a file's bytes depend only on
    what was put and in which order."""
    return b"".join(ENTRY.pack(int(t), rid, off, n) for (t, rid), (off, n) in sorted(entries.items())
                    if t in SEALED_TYPES)


def footer(table_offset: int, table_bytes: bytes, head: bytes) -> bytes:
    return FOOTER.pack(table_offset, len(table_bytes), digest(head, table_bytes), VERSION, 0, MAGIC)


@dataclass(frozen=True)
class Contents:
    """What a sealed file holds: its config and where each resource lies."""

    config: bytes
    entries: dict[Key, Extent]


def parse_footer(path: str, size: int, tail: bytes) -> tuple[int, int]:
    """The table's (offset, length) from the last FOOTER.size bytes of a file of ``size`` bytes."""
    if size < HEADER.size + FOOTER.size or len(tail) != FOOTER.size:
        raise IntegrityError(f"ptar: {path} is truncated ({size} bytes): it holds no footer")
    table_offset, table_length, _, version, reserved, magic = FOOTER.unpack(tail)
    if magic != MAGIC:
        raise IntegrityError(f"ptar: {path} has no ptar footer: truncated, never sealed, or not a ptar file")
    if version != VERSION or reserved:
        raise IntegrityError(f"ptar: {path} is a ptar of version {version}.{reserved}, which this kloset cannot read")
    if table_length % ENTRY.size or table_offset + table_length + FOOTER.size != size:
        raise IntegrityError(f"ptar: {path}: the footer does not match the file's size (truncated or corrupted)")
    return table_offset, table_length


def parse_header(path: str, head: bytes, table_offset: int) -> int:
    """The config's length, from the first HEADER.size bytes."""
    magic, version, config_length = HEADER.unpack(head)
    if magic != MAGIC or version != VERSION:
        raise IntegrityError(f"ptar: {path} has no ptar header of version {VERSION}")
    if HEADER.size + config_length > table_offset:
        raise IntegrityError(f"ptar: {path}: the config runs into the table (corrupted)")
    return config_length


def parse(path: str, head: bytes, table_bytes: bytes, tail: bytes) -> Contents:
    """Check the digest and every entry; ``head`` is the header with the config."""
    table_offset = FOOTER.unpack(tail)[0]
    if digest(head, table_bytes) != FOOTER.unpack(tail)[2]:
        raise IntegrityError(f"ptar: {path}: the table's digest does not match (corrupted)")
    entries: dict[Key, Extent] = {}
    previous: tuple[int, bytes] = (0, b"")
    for t, rid, off, n in ENTRY.iter_unpack(table_bytes):
        if t not in SEALED_TYPES or (t, rid) <= previous:
            raise IntegrityError(f"ptar: {path}: the table is malformed (type {t}, or not in order)")
        if off < len(head) or off + n > table_offset:
            raise IntegrityError(f"ptar: {path}: resource {rid.hex()[:16]} lies outside the data (corrupted)")
        previous = (t, rid)
        entries[(ResourceType(t), rid)] = (off, n)
    return Contents(head[HEADER.size:], entries)


def check_id(rid: bytes) -> None:
    if len(rid) != ID_SIZE:
        raise ValueError(f"a resource ID is {ID_SIZE} bytes, not {len(rid)}")
