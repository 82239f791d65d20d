"""Checking a store: every snapshot's structure, and with ``read_data`` every byte of every pack.

Damage is reported by what it hurts: the packs and blobs that fail their tags, and for each snapshot the
files whose content lies in a damaged blob.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import IntegrityError, KlosetError, NotFound
from ..hashing import blob_mac, mac
from ..objects import BlobType, ResourceType
from ..packfile import open_blob, read_index
from ..repository.repo import Repository
from ..repository.state import StateDelta
from .header import Header
from .reader import SnapshotReader
from .results import prefix_length
from .rows import row_pathname

ProgressFn = Callable[[int, int], None]


@dataclass
class CheckReport:
    snapshots: int = 0
    packs: int = 0
    blobs: int = 0
    damaged_packs: dict[str, str] = field(default_factory=dict)  # pack ID hex -> why
    damaged_blobs: set[bytes] = field(default_factory=set)
    missing_blobs: set[bytes] = field(default_factory=set)
    damaged_snapshots: dict[str, str] = field(default_factory=dict)  # short ID -> why
    damaged_states: dict[str, str] = field(default_factory=dict)  # state ID hex -> why
    damaged_files: dict[str, list[str]] = field(default_factory=dict)  # short ID -> paths

    @property
    def ok(self) -> bool:
        return not (self.damaged_packs or self.damaged_blobs or self.missing_blobs or self.damaged_snapshots
                    or self.damaged_files or self.damaged_states)


def check_packs(repo: Repository, report: CheckReport, progress: ProgressFn | None = None) -> None:
    """Read every pack whole: its MAC, its own index, and every blob's tag and MAC."""
    idx = repo.index
    by_pack: dict[int, list[tuple[bytes, int, int, int]]] = {}
    for bid, t, no, off, n in idx.entries():
        by_pack.setdefault(no, []).append((bid, t, off, n))
    done = nbytes = 0
    for no, (pack_id, wrapped) in enumerate(idx.packs):
        blobs = by_pack.get(no, [])
        if not blobs:
            continue  # every blob of it lives in another pack too (duplicate after a concurrent backup)
        report.packs += 1
        try:
            data = repo.storage.get(ResourceType.PACKFILE, pack_id)
        except NotFound:
            report.damaged_packs[pack_id.hex()] = "missing"
            report.missing_blobs.update(b for b, *_ in blobs)
            continue
        sealer = repo.sealer(wrapped)
        if mac(repo.keyring.mac_key, data) != pack_id:
            report.damaged_packs[pack_id.hex()] = "pack bytes do not match the pack's MAC"
        try:
            read_index(data, sealer)
        except IntegrityError as e:
            report.damaged_packs[pack_id.hex()] = f"pack index: {e}"
        for bid, t, off, n in blobs:
            report.blobs += 1
            try:
                if off + n > len(data):
                    raise IntegrityError("truncated")
                plain = open_blob(sealer, t, bid, memoryview(data)[off : off + n])
                # A result's ID is the MAC of its (analyzer, object) prefix; the seal binds the rest.
                signed = plain[: prefix_length(plain)] if t == BlobType.RESULT else plain
                if blob_mac(repo.keyring.mac_key, BlobType(t), signed) != bid:
                    raise IntegrityError("content does not match its ID")
            except (IntegrityError, ValueError):
                report.damaged_blobs.add(bid)
                report.damaged_packs.setdefault(pack_id.hex(), "damaged blobs")
        done += 1
        nbytes += len(data)
        if progress is not None:
            progress(done, nbytes)


def check_snapshot(reader: SnapshotReader, report: CheckReport) -> None:
    h = reader.header
    repo = reader.repo
    bad = report.damaged_blobs | report.missing_blobs
    report.snapshots += 1
    damaged: list[str] = []
    try:
        for row in reader.rows("files", ["path", "raw_path", "type", "object_id", "chunks", "size"]):
            if row["type"] != "file":
                continue
            try:
                chunks = reader.chunks_of(row)
            except IntegrityError:
                damaged.append(row_pathname(row))
                continue
            for cid, _ in chunks:
                if cid in bad or not repo.has_blob(cid):
                    if not repo.has_blob(cid):
                        report.missing_blobs.add(cid)
                    damaged.append(row_pathname(row))
                    break
        for name in ("xattrs", "errors"):
            for p in h.tables.get(name, []):
                reader.piece(name, p.id)
    except KlosetError as e:
        report.damaged_snapshots[h.short_id] = str(e)
    if damaged:
        report.damaged_files[h.short_id] = damaged


def check_states(repo: Repository, report: CheckReport) -> None:
    """Re-read every state from the store (the local cache is not evidence) and every pack's presence."""
    for sid in repo.storage.list(ResourceType.STATE):
        try:
            StateDelta.decode(repo.keyring, sid, repo.storage.get(ResourceType.STATE, sid))
        except (IntegrityError, NotFound) as e:
            report.damaged_states[sid.hex()] = str(e)
    present = set(repo.storage.list(ResourceType.PACKFILE))
    idx = repo.index
    missing = {no for no, (pid, _) in enumerate(idx.packs) if pid not in present}
    if missing:
        for no in missing:
            report.damaged_packs[idx.packs[no][0].hex()] = "missing"
        report.missing_blobs.update(b for b, _, no, _, _ in idx.entries() if no in missing)


def check(repo: Repository, headers: list[Header], *, read_data: bool = True,
          progress: ProgressFn | None = None) -> CheckReport:
    report = CheckReport()
    check_states(repo, report)
    if read_data:
        check_packs(repo, report, progress)
    for h in headers:
        check_snapshot(SnapshotReader(repo, h), report)
    return report
