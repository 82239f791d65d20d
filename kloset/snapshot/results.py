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
pieces like every table, so an unchanged snapshot's tables are the same blobs as its parent's). The
functions at the end read them back: a snapshot's rows are each analyzer's from its newest analysis.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgpack

from ..analyzer import Analysis, Analyzer, Finding
from ..errors import IntegrityError
from ..hashing import blob_mac
from ..objects import ID_SIZE, BlobType
from .header import Piece
from .index import BLOB_TYPES, decode_piece, pylist_columns, schemas

if TYPE_CHECKING:
    from ..repository.repo import Repository

ANALYSIS_VERSION = 1
TABLES = ("findings", "emails")
Rows = dict[str, list[tuple[Any, ...]]]  # table -> rows of one (analyzer, object)


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


def analyses(repo: Repository, snapshot_id: bytes | None = None) -> list[AnalysisHeader]:
    """Every readable analysis (of one snapshot, if given), oldest first."""
    out = []
    for aid in repo.index.analysis_ids():
        h = repo.decoded.get(aid)
        if h is None:
            try:
                h = repo.decoded[aid] = AnalysisHeader.decode(repo.get_blob(BlobType.ANALYSIS, aid), aid)
            except IntegrityError:
                continue  # a damaged analysis is check's to report; the snapshot can be analyzed again
        if snapshot_id is None or h.snapshot == snapshot_id:
            out.append(h)
    return sorted(out, key=lambda h: h.time_ns)


def latest(headers: Iterable[AnalysisHeader]) -> dict[str, AnalysisHeader]:
    """Analyzer key -> the newest analysis that ran it."""
    by_key: dict[str, AnalysisHeader] = {}
    for h in sorted(headers, key=lambda h: h.time_ns):
        for k in h.analyzers:
            by_key[k] = h
    return by_key


def table_rows(repo: Repository, h: AnalysisHeader, table: str, analyzer: str | None = None,
               objects: set[bytes] | None = None) -> list[tuple[Any, ...]]:
    """An analysis's rows of one table, in schema order (of one analyzer, of some objects, if given)."""
    rows: list[tuple[Any, ...]] = []
    for p in h.tables.get(table, []):
        cols = pylist_columns(decode_piece(repo.get_blob(BLOB_TYPES[table], p.id)))
        for row in zip(*cols.values(), strict=True):
            if (objects is None or row[0] in objects) and (analyzer is None or row[1] == analyzer):
                rows.append(row)
    return rows


def linked_rows(repo: Repository, snapshot_id: bytes, table: str) -> list[tuple[Any, ...]]:
    """A snapshot's rows of one analysis table: each analyzer's from the newest analysis that ran it."""
    newest: dict[str, AnalysisHeader] = {}
    for key, h in latest(analyses(repo, snapshot_id)).items():
        name = key.rpartition("@")[0]
        if name not in newest or newest[name].time_ns < h.time_ns:
            newest[name] = h
    return [row for name, h in sorted(newest.items()) for row in table_rows(repo, h, table, name)]


def linked_columns(repo: Repository, snapshot_id: bytes, table: str) -> dict[str, list[Any]]:
    """:func:`linked_rows` as columns, by name."""
    rows = linked_rows(repo, snapshot_id, table)
    return {n: [r[i] for r in rows] for i, n in enumerate(schemas()[table].names)}


def result_rows(cls: type[Analyzer], object_id: bytes, analysis: Analysis) -> Rows:
    """The table rows one result stands for."""
    rows: Rows = {"findings": [(object_id, cls.name, f.category, f.sample, f.offset, f.confidence, f.count)
                               for f in analysis.findings] or [(object_id, cls.name, None, None, None, None, None)]}
    if cls.table in TABLES and cls.table != "findings" and analysis.record is not None:
        fields = list(schemas()[cls.table])[3:]  # after object_id, analyzer and seq
        rows[cls.table] = [(object_id, cls.name, seq, *(_value(f.type, r.get(f.name)) for f in fields))
                           for seq, r in enumerate(cls.rows(analysis.record))]
    return rows


def _value(kind: Any, v: Any) -> Any:
    """A record's value in the form table rows hold: timestamps as integer nanoseconds."""
    import pyarrow as pa

    if not pa.types.is_timestamp(kind) or v is None or isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return None
    if isinstance(v, datetime) and v.tzinfo is not None:
        return int(v.timestamp() * 1_000_000) * 1000
    return None
