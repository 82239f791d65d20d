"""Copying snapshots between two stores: only what the receiving side lacks travels.

Two stores share no IDs (each MACs with its own key), so a snapshot is known on both sides by its
natural key: when it was taken, of which host, by which source (:func:`natural_key`). A snapshot the
receiving store lacks is backed up into it from the sending store: :class:`SnapshotImporter` gives the
original's entries as records, with their metadata, link targets, attributes and errors, and their
content read from the sending store. The receiving store's own incremental logic does the rest: a file
whose metadata equals its parent's row (the previous copy of the same source), and whose content the
sender says is the parent original's, is taken from there without reading it, and a piece of the index
equal to the parent's is referenced, not written again.

Content travels one of two ways. When both stores cut content with the same chunking parameters, a
chunk of the sender is a chunk of the receiver: it is opened, its payload kept compressed as it is,
its plaintext MACed with the receiver's key, and resealed (:class:`Transfer`), which costs no
compression. Otherwise the content is read as a stream and cut, compressed and stored as a backup
would. Either way the receiver's transaction checkpoints as it goes (see ``Transaction.checkpoint``),
so a sync that is killed stores only what it had not stored before when it is run again.
"""

from __future__ import annotations

import errno
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..compression import decompress
from ..errors import ConfigError, IntegrityError, KlosetError, NotFound
from ..hashing import blob_mac
from ..importer import Importer, ImporterOptions
from ..objects import BlobType, Record
from ..packfile import unseal_blob
from ..progress import bar
from ..repository.fetch import get_blobs
from ..snapshot.backup import BackupOptions, find_parent, take_snapshot
from ..snapshot.content import Content, object_id
from ..snapshot.header import Header
from ..snapshot.reader import Batch, ContentFile, SnapshotReader
from ..snapshot.rows import row_info, row_key, row_pathname

if TYPE_CHECKING:
    from typing import BinaryIO

    from ..repository.repo import Repository
    from ..repository.transaction import Transaction
    from ..snapshot.workers import Item
    from ..store import Store

ProgressFn = Callable[[int, int], None]
DIRECTIONS = ("to", "from", "with")
#: Bytes uploaded between two checkpoints of a copy.
CHECKPOINT = 256 << 20


@dataclass
class SyncedSnapshot:
    """One snapshot a sync looked at: where it went and whether it was copied or already there."""

    source_id: str
    target_id: str  # the copy's ID on the receiving store ("" when skipped)
    direction: str  # "to" or "from", as seen from the store sync was called on
    copied: bool
    files: int = 0
    size: int = 0  # logical bytes of the snapshot's files
    stored: int = 0  # bytes the copy added to the receiving store
    reused_files: int = 0  # files the copy took from the receiver's previous copy without reading them
    errors: int = 0  # entries the copy could not read from the sender (damaged there) beyond the original's


@dataclass
class SyncReport:
    snapshots: list[SyncedSnapshot] = field(default_factory=list)

    @property
    def copied(self) -> int:
        return sum(s.copied for s in self.snapshots)

    @property
    def skipped(self) -> int:
        return sum(not s.copied for s in self.snapshots)

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.snapshots)


def natural_key(h: Header) -> tuple[int, str, str, str, str]:
    """What names a snapshot in any store: its IDs differ from one store to another."""
    return h.timestamp_ns, h.hostname, h.importer_type, h.importer_origin, h.importer_root


def sync(store: Store, other: Store, *, direction: str = "to", snapshots: list[str] | None = None,
         progress: bool | ProgressFn = False, checkpoint: int = CHECKPOINT) -> SyncReport:
    """Copy the snapshots of ``store`` that ``other`` lacks to it (``to``), those of ``other`` that
    ``store`` lacks (``from``), or both (``with``). ``snapshots`` limits the sync to these references
    (``latest`` or ID prefixes) of the sending store; with ``with``, of either store."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"sync direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if store.id == other.id:
        raise ConfigError(f"{store.location} and {other.location} are the same store")
    refs = list(snapshots or [])
    chosen = _chosen(store, other, direction, refs) if refs else None
    legs = [(store, other, "to")] if direction == "to" else [(other, store, "from")] if direction == "from" \
        else [(store, other, "to"), (other, store, "from")]
    report = SyncReport()
    for src, dst, label in legs:
        have = {natural_key(s.header) for s in dst.snapshots()}
        ids: dict[bytes, bytes] = {}  # chunk ID on src -> on dst, for chunks dst holds
        originals = [s.header for s in src.snapshots()]
        for h in originals:
            if chosen is not None and h.id not in chosen:
                continue
            if natural_key(h) in have:
                report.snapshots.append(SyncedSnapshot(h.id.hex(), "", label, False, h.summary.files, h.summary.size))
                continue
            with bar(progress, f"sync {h.short_id}", total_items=h.summary.entries, total_bytes=h.summary.size) as fn:
                copy = copy_snapshot(_repo(src), h, _repo(dst), [s.header for s in dst.snapshots()], originals, ids,
                                     progress=fn, checkpoint=checkpoint)
            have.add(natural_key(copy))
            s = copy.summary
            report.snapshots.append(SyncedSnapshot(h.id.hex(), copy.id.hex(), label, True, s.files, s.size, s.stored,
                                                   s.reused_files, max(0, s.errors - h.summary.errors)))
    return report


def _repo(store: Store) -> Repository:
    return store._repo  # the layer below the public Store is this module's to use


def _chosen(store: Store, other: Store, direction: str, refs: list[str]) -> set[bytes]:
    """The header IDs the references name on the sending side (on either side for ``with``)."""
    sides = [store] if direction == "to" else [other] if direction == "from" else [store, other]
    out: set[bytes] = set()
    for ref in refs:
        found = False
        for side in sides:
            try:
                out.add(side.snapshot(ref).header.id)
                found = True
            except NotFound:
                continue
        if not found:
            where = " or ".join(str(s.location) for s in sides)
            raise NotFound(f"no snapshot {ref!r} in {where}")
    return out


def copy_snapshot(source: Repository, header: Header, target: Repository, target_headers: list[Header],
                  source_headers: list[Header], ids: dict[bytes, bytes] | None = None, *,
                  progress: ProgressFn | None = None, checkpoint: int = CHECKPOINT) -> Header:
    """Back up one snapshot of ``source`` into ``target``; return the copy's header.

    The copy's parent is the target's latest copy of the same source whose original the source still
    has: a file is taken from it only when the source says its content is the original's (see
    :meth:`SnapshotImporter.fresh`), not merely because its metadata is the same. ``ids`` maps chunk IDs
    of the source to those of the target for chunks the target holds: it is read to skip work and, once
    the copy is committed, extended with what the copy stored."""
    originals = {natural_key(h): h for h in source_headers}
    candidates = [h for h in target_headers if natural_key(h) in originals]
    importer = SnapshotImporter(SnapshotReader(source, header))
    parent = find_parent(candidates, importer)
    if parent is not None:
        importer.twin = SnapshotReader(source, originals[natural_key(parent)])
    same_cuts = source.config.chunking == target.config.chunking
    transfer = Transfer(source, target.keyring.mac_key, ids if ids is not None else {}) if same_cuts else None
    options = BackupOptions(processes=0, checkpoint=checkpoint)
    copy = take_snapshot(target, importer, options, candidates, progress, like=header, read=transfer,
                         fresh=importer.fresh)
    if ids is not None and transfer is not None:
        ids.update(transfer.ids)  # committed now: later copies may count on these chunks
    return copy


class SourceObject:
    """A file's content in the sending store: its chunks, with what the original said of them. Called,
    it opens the content as a stream (for a receiver that cuts content its own way)."""

    __slots__ = ("chunks", "content_type", "entropy", "repo")

    def __init__(self, repo: Repository, chunks: list[tuple[bytes, int]], content_type: str,
                 entropy: float | None) -> None:
        self.repo = repo
        self.chunks = chunks
        self.content_type = content_type
        self.entropy = entropy or 0.0

    def __call__(self) -> BinaryIO:
        return cast("BinaryIO", _SourceFile(self.repo, self.chunks))


class _SourceFile(ContentFile):
    """A file's content read from the sending store, whose damage reads as an I/O error: a backup
    records that file as unreadable and goes on, as the chunk for chunk transfer does."""

    def _chunk(self, i: int) -> bytes:
        try:
            return super()._chunk(i)
        except (IntegrityError, NotFound) as e:
            raise OSError(errno.EIO, str(e)) from e


class SnapshotImporter(Importer):
    """The entries of a snapshot as records, in snapshot order: what copying it backs up.

    ``twin``, when set, is the snapshot of the same store that the copy's parent is a copy of: the scan
    walks it in step and notes the files whose content differs from the twin's (:meth:`fresh`)."""

    ordered = True
    scan_blocks = True  # it reads the snapshot's tables from its store

    def __init__(self, reader: SnapshotReader) -> None:
        h = reader.header
        super().__init__({"location": f"snapshot {h.id.hex()}"}, ImporterOptions(hostname=h.hostname))
        self._reader = reader
        self.twin: SnapshotReader | None = None
        self._changed: set[bytes] = set()  # noted by the scan, taken by fresh() a little later

    def fresh(self, key: bytes) -> bool:
        """Whether the entry's content differs from the twin's, so that the parent's copy of it is not its
        content whatever the metadata says (content rewritten with its times kept, a source whose
        metadata is coarse). Asked once per entry the parent has, after the scan gave its record."""
        if key in self._changed:
            self._changed.discard(key)
            return True
        return False

    @property
    def origin(self) -> str:
        return self._reader.header.importer_origin

    @property
    def type(self) -> str:
        return self._reader.header.importer_type

    @property
    def root(self) -> str:
        return self._reader.header.importer_root

    def scan(self) -> Iterator[Record]:
        r = self._reader
        xattrs = _by_entry(r.rows("xattrs"))
        pending_xattrs = next(xattrs, None)
        # An entry with an errors row and a files row (a file that changed while it was read) gives two
        # records of one path: the error first, as the backup that made it met them.
        errors = ((row_key(e["path"], e["raw_path"]), 0, e) for e in r.rows("errors"))
        files = ((row_key(f["path"], f["raw_path"]), 1, f) for f in r.rows("files"))
        twin = ((row_key(t["path"], t["raw_path"]), t["object_id"])
                for t in (self.twin.rows("files", ["path", "raw_path", "object_id"]) if self.twin else ()))
        pending_twin = next(twin, None)
        for key, kind, row in heapq.merge(errors, files, key=lambda x: (x[0], x[1])):
            if kind == 0:
                yield Record(row_pathname(row), error=row["error"])
                continue
            while pending_twin is not None and pending_twin[0] < key:
                pending_twin = next(twin, None)
            if pending_twin is not None and pending_twin[0] == key and pending_twin[1] != row["object_id"]:
                self._changed.add(key)
            while pending_xattrs is not None and pending_xattrs[0] < key:
                pending_xattrs = next(xattrs, None)
            attrs: dict[str, bytes] = {}
            if pending_xattrs is not None and pending_xattrs[0] == key:
                attrs = pending_xattrs[1]
                pending_xattrs = next(xattrs, None)
            opener = None
            if row["type"] == "file" and row["size"]:
                try:
                    chunks = r.chunks_of(row)
                except IntegrityError as e:  # the sender's chunk list of it is lost: an error of the copy
                    yield Record(row_pathname(row), error=str(e))
                    continue
                opener = SourceObject(r.repo, chunks, row["content_type"] or "", row["entropy"])
            yield Record(row_pathname(row), row_info(row), target=row["target"] or "", xattrs=attrs, open=opener)


def _by_entry(rows: Iterator[dict[str, Any]]) -> Iterator[tuple[bytes, dict[str, bytes]]]:
    """xattrs rows (in snapshot order) as (entry key, {name: value}), one entry at a time."""
    key: bytes | None = None
    attrs: dict[str, bytes] = {}
    for row in rows:
        k = row_key(row["path"], row["raw_path"])
        if k != key:
            if key is not None:
                yield key, attrs
            key, attrs = k, {}
        attrs[row["name"]] = row["value"]
    if key is not None:
        yield key, attrs


class _Sealed:
    """The sending repository as :func:`get_blobs` uses it, whose blobs open to what the seal holds: the
    compression byte, then the payload as stored. Fetching is get_blobs' (a request per run of
    neighbouring blobs); only the last step, decompressing, is left out."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self.storage = repo.storage

    @property
    def index(self) -> Any:
        return self._repo.index

    def open_sealed(self, blob_type: BlobType, blob_id: bytes, wrapped: bytes, pack_id: bytes,
                    sealed: bytes | memoryview, verify: bool) -> bytes:
        try:
            algo, payload = unseal_blob(self._repo.sealer(wrapped), blob_type, blob_id, sealed)
        except IntegrityError as e:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} in packfile {pack_id.hex()[:16]}: {e}") from e
        return bytes((algo,)) + payload


class Transfer:
    """Stores batches of files of the sending store in the receiving one, chunk for chunk, when both cut
    content alike: each chunk's compressed payload is resealed as it is (see the module's docstring).
    Chunks already mapped to the receiver's IDs are not fetched at all."""

    def __init__(self, source: Repository, mac_key: bytes, known: dict[bytes, bytes]) -> None:
        self._source = cast("Repository", _Sealed(source))
        self._key = mac_key
        self.known = known  # source chunk ID -> target chunk ID, of chunks the target had before
        self.ids: dict[bytes, bytes] = {}  # the same, of chunks this copy stored or found

    def __call__(self, txn: Transaction, items: list[Item]) -> list[Content]:
        objects: list[SourceObject] = [opener for _, _, opener in items]
        wanted: dict[bytes, int] = {}
        for o in objects:
            for cid, size in o.chunks:
                if cid not in self.ids and cid not in self.known:
                    wanted[cid] = size
        failed: dict[bytes, str] = {}
        window: list[bytes] = []
        total = 0
        for cid, size in wanted.items():
            if window and total + size > Batch.WINDOW:
                self._store(txn, window, wanted, failed)
                window, total = [], 0
            window.append(cid)
            total += size
        if window:
            self._store(txn, window, wanted, failed)
        out = []
        for o in objects:
            bad = next((failed[cid] for cid, _ in o.chunks if cid in failed), None)
            if bad is not None:
                out.append(Content(error=bad))
                continue
            chunks = [(self.ids.get(cid) or self.known[cid], size) for cid, size in o.chunks]
            out.append(Content(object_id(self._key, [c for c, _ in chunks]), chunks, sum(n for _, n in chunks),
                               o.content_type, o.entropy))
        return out

    def _store(self, txn: Transaction, window: list[bytes], sizes: dict[bytes, int], failed: dict[bytes, str]) -> None:
        for cid, got in zip(window, get_blobs(self._source, BlobType.CHUNK, window), strict=True):
            if isinstance(got, IntegrityError | NotFound):  # damaged on the sender: its files become errors
                failed[cid] = str(got)
                continue
            if isinstance(got, KlosetError):  # the store itself failed: the copy stops
                raise got
            try:
                payload = memoryview(got)[1:]
                plain = payload if got[0] == 0 else decompress(got[0], cast(bytes, payload), sizes[cid])
                if len(plain) != sizes[cid]:
                    raise IntegrityError(f"chunk {cid.hex()[:16]} holds {len(plain)} bytes, not {sizes[cid]}")
            except IntegrityError as e:
                failed[cid] = str(e)
                continue
            tid = blob_mac(self._key, BlobType.CHUNK, plain)
            if txn.reserve(tid):
                txn.add_compressed(BlobType.CHUNK, tid, got[0], payload)
            self.ids[cid] = tid
