"""Analyzer results as stored: one RESULT blob per (analyzer, content object), one ANALYSIS per run.

A result's blob ID is derived from the analyzer's key and the object ID alone, so whether an object
has been analyzed is one lookup in the store's index, with no read; and content held by any number of
files, snapshots and sources is analyzed once. The plaintext begins with the same two fields, which is
what a check verifies the ID against (the seal binds the rest):

    result plaintext := key (UTF-8, "name@version") || 0x00 || object ID || msgpack {
                            "findings": [[category, sample, offset, confidence, count], ...],
                            "tags": [tag, ...], "record": any msgpack value or nil}
    result ID        := MAC(MAC key, 0x07 || key || 0x00 || object ID)

An analysis links results to one snapshot: a msgpack header of type ANALYSIS naming the snapshot and
its analyzers' keys, with the snapshot's findings and emails as tables (object ID order, content-defined
pieces like every table, so an unchanged snapshot's tables are the same blobs as its parent's).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from ..analyzer import Analysis, Finding
from ..errors import IntegrityError
from ..hashing import blob_mac
from ..objects import ID_SIZE, BlobType
from .header import Piece

ANALYSIS_VERSION = 1


def result_prefix(key: str, object_id: bytes) -> bytes:
    return key.encode() + b"\0" + object_id


def result_id(mac_key: bytes, key: str, object_id: bytes) -> bytes:
    return blob_mac(mac_key, BlobType.RESULT, result_prefix(key, object_id))


def prefix_length(plaintext: bytes) -> int:
    """The length of a result plaintext's (key, object ID) prefix, which its ID is the MAC of."""
    end = plaintext.find(b"\0")
    if end < 0 or len(plaintext) < end + 1 + ID_SIZE:
        raise IntegrityError("a result blob has no analyzer key and object ID")
    return end + 1 + ID_SIZE


def encode_result(key: str, object_id: bytes, analysis: Analysis) -> bytes:
    body = {"findings": [[f.category, f.sample, f.offset, f.confidence, f.count] for f in analysis.findings],
            "tags": list(analysis.tags), "record": analysis.record}
    return result_prefix(key, object_id) + msgpack.packb(body, datetime=True)


def decode_result(plaintext: bytes) -> tuple[str, bytes, Analysis]:
    """(analyzer key, object ID, analysis) of a result blob's plaintext."""
    n = prefix_length(plaintext)
    key, oid = plaintext[: n - ID_SIZE - 1].decode(), plaintext[n - ID_SIZE : n]
    try:
        d = msgpack.unpackb(plaintext[n:], timestamp=3)
        findings = [Finding(str(c), str(s), int(o), float(p), int(k)) for c, s, o, p, k in d["findings"]]
        return key, oid, Analysis(findings, [str(t) for t in d["tags"]], d["record"])
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as e:
        raise IntegrityError(f"the {key} result of object {oid.hex()[:16]} is malformed: {e}") from e


@dataclass
class AnalysisHeader:
    """One analysis of one snapshot (an ANALYSIS blob)."""

    snapshot: bytes
    analyzers: list[str]  # keys, "name@version"
    time_ns: int = field(default_factory=time.time_ns)
    tables: dict[str, list[Piece]] = field(default_factory=dict)
    nonce: bytes = field(default_factory=lambda: os.urandom(16))
    id: bytes = b""

    def encode(self) -> bytes:
        return msgpack.packb({
            "version": ANALYSIS_VERSION, "snapshot": self.snapshot, "analyzers": self.analyzers,
            "time": self.time_ns, "nonce": self.nonce,
            "tables": {k: [[p.id, p.rows, p.first] for p in v] for k, v in self.tables.items()}})

    @classmethod
    def decode(cls, data: bytes, blob_id: bytes) -> AnalysisHeader:
        try:
            d: dict[str, Any] = msgpack.unpackb(data)
            if d["version"] != ANALYSIS_VERSION:
                raise IntegrityError(f"analysis version {d['version']} is not supported")
            return cls(bytes(d["snapshot"]), [str(k) for k in d["analyzers"]], int(d["time"]),
                       {k: [Piece(bytes(i), int(n), bytes(f)) for i, n, f in v] for k, v in d["tables"].items()},
                       bytes(d["nonce"]), blob_id)
        except (KeyError, TypeError, ValueError, msgpack.UnpackException) as e:
            raise IntegrityError(f"analysis {blob_id.hex()[:8]} is malformed: {e}") from e
