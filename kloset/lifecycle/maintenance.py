"""Maintenance: giving back the space of data that no snapshot uses.

Under an exclusive lock, maintenance reads every state, works out which blobs the store's snapshots (and
their analyses) still use, and sorts the packs:

- a pack with no blob in use is **dead**;
- a pack whose blobs in use make up less than ``threshold`` of its bytes is **repacked**: those blobs are
  copied into new packs (their sealed payload is opened and sealed again, never recompressed), and the old
  pack is dead from then on;
- every other pack is kept.

A dead pack, and a pack that no state lists (left by a transaction that died), is deleted only once it
has been found so for ``grace`` seconds: the first maintenance that finds it writes down when (the
state's ``condemned`` list), and a later one deletes it. A backup that went on under a lock gone stale
may still commit a snapshot that uses such a pack's blobs; it then counts as in use again and stays.

The order of the writes keeps the store whole at every step, whatever kills the process: the new packs,
then one state listing every pack that stays (the old states' union, rewritten), then the old states are
deleted, and only then the packs that no state lists any more. See docs/format.md, section 10.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ConfigError, IntegrityError, NotFound
from ..objects import BlobType, ResourceType
from ..packfile import unseal_blob
from ..progress import ProgressFn, bar
from ..repository.repo import Repository
from ..repository.state import PackEntry, StateDelta
from ..snapshot.header import Header
from ..snapshot.reader import SnapshotReader
from ..snapshot.results import AnalysisHeader, result_id

DEFAULT_GRACE = 7 * 24 * 3600.0
DEFAULT_THRESHOLD = 0.5


@dataclass
class MaintenanceReport:
    """What a maintenance run did (or, with ``dry_run``, would do). Byte counts are sealed blob bytes."""

    dry_run: bool = False
    snapshots: int = 0  # snapshots whose data is kept
    states: int = 0  # states read (and, unless nothing changed, replaced by one)
    packs: int = 0  # packs the states listed
    live_bytes: int = 0  # bytes of blobs in use
    packs_deleted: int = 0
    bytes_deleted: int = 0
    packs_repacked: int = 0
    bytes_moved: int = 0  # bytes of blobs in use copied out of repacked packs
    packs_written: int = 0
    packs_waiting: int = 0  # dead packs kept until their grace period ends
    bytes_waiting: int = 0
    orphans_deleted: int = 0  # packs no state listed
    orphans_waiting: int = 0
    seconds: float = 0.0
    deleted: list[str] = field(default_factory=list)  # IDs (hex) of the packs deleted or to delete

    @property
    def changed(self) -> bool:
        return bool(self.packs_deleted or self.packs_repacked or self.orphans_deleted or self.packs_waiting
                    or self.orphans_waiting)


@dataclass
class _Pack:
    entry: PackEntry
    total: int = 0  # bytes of all its blobs, padding included
    live: int = 0  # bytes of the blobs in use whose copy here is the one kept
    homed: list[tuple[int, bytes, int, int]] = field(default_factory=list)


def maintain(repo: Repository, *, grace: float | None = None, threshold: float | None = None,
             dry_run: bool = False, progress: bool | ProgressFn = False) -> MaintenanceReport:
    grace = DEFAULT_GRACE if grace is None else grace
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if grace < 0:
        raise ConfigError(f"the grace period cannot be negative ({grace} s)")
    if not 0 <= threshold <= 1:
        raise ConfigError(f"the repacking threshold is a fraction of a pack, from 0 to 1 (not {threshold})")
    started = time.perf_counter()
    if dry_run:
        report = _run(repo, grace, threshold, True, progress)
    else:
        with repo.lock(exclusive=True):
            report = _run(repo, grace, threshold, False, progress)
    report.seconds = time.perf_counter() - started
    return report


def _run(repo: Repository, grace: float, threshold: float, dry_run: bool,
         progress: bool | ProgressFn) -> MaintenanceReport:
    report = MaintenanceReport(dry_run=dry_run)
    repo.refresh()
    storage = repo.storage
    sids = sorted(storage.list(ResourceType.STATE))
    deltas = repo.read_states(sids)
    report.states = len(sids)

    packs: dict[bytes, _Pack] = {}
    deleted: set[bytes] = set()
    condemned: dict[bytes, int] = {}
    newest_verdict = -1
    for delta in deltas:  # in the index's merge order: the first listing of a pack wins
        deleted.update(delta.deleted)
        for entry in delta.packs:
            packs.setdefault(entry.pack_id, _Pack(entry))
        if delta.condemned is not None and delta.time_ns > newest_verdict:
            # The newest maintenance's word on what waits for deletion: an older state that a killed run
            # left behind may still name packs found in use since.
            newest_verdict, condemned = delta.time_ns, delta.condemned
    report.packs = len(packs)

    snapshots: list[bytes] = []
    analyses: list[bytes] = []
    for p in packs.values():
        for t, bid, _, _ in p.entry.blobs.rows():
            if t == BlobType.SNAPSHOT and bid not in deleted:
                snapshots.append(bid)
            elif t == BlobType.ANALYSIS:
                analyses.append(bid)
    snapshots = list(dict.fromkeys(snapshots))
    live = in_use(repo, snapshots, analyses)
    report.snapshots = len(snapshots)

    # Each blob in use is kept in one pack: preferably one that is not waiting for deletion, then the
    # fullest, so that duplicates (two backups that raced, an earlier repacking) drain out of the rest.
    order = sorted(packs.values(), key=lambda p: (p.entry.pack_id in condemned, -len(p.entry.blobs)))
    home: set[bytes] = set()
    for p in order:
        for t, bid, off, n in p.entry.blobs.rows():
            p.total += n
            if t != BlobType.PADDING and bid in live and bid not in home:
                home.add(bid)
                p.live += n
                p.homed.append((t, bid, off, n))
    report.live_bytes = sum(p.live for p in packs.values())

    now = time.time_ns()
    cutoff = now - int(grace * 1e9)
    keep: list[_Pack] = []
    repack: list[_Pack] = []
    gone: list[_Pack] = []
    for p in packs.values():
        if p.live == 0:
            gone.append(p)
        elif p.live < threshold * p.total:
            repack.append(p)
        else:
            keep.append(p)
    verdict: dict[bytes, int] = {}
    to_delete: list[bytes] = []
    waiting: list[_Pack] = []
    for p in gone + repack:
        pid = p.entry.pack_id
        since = condemned.get(pid, now)
        if since <= cutoff:
            to_delete.append(pid)
            report.packs_deleted += 1
            report.bytes_deleted += p.total
        else:
            verdict[pid] = since
            waiting.append(p)
            report.packs_waiting += 1
            report.bytes_waiting += p.total
    orphans = sorted(set(storage.list(ResourceType.PACKFILE)) - packs.keys())
    for pid in orphans:
        since = condemned.get(pid, now)
        if since <= cutoff:
            to_delete.append(pid)
            report.orphans_deleted += 1
        else:
            verdict[pid] = since
            report.orphans_waiting += 1
    report.packs_repacked = len(repack)
    report.bytes_moved = sum(p.live for p in repack)
    report.deleted = [pid.hex() for pid in to_delete]

    # Nothing to do, and the last maintenance already said so: leave the states as they are.
    if dry_run or (not to_delete and not repack and verdict == condemned and len(sids) <= 1):
        return report

    written = _repack(repo, repack, progress) if repack else []
    report.packs_written = len(written)
    listed = written + [p.entry for p in keep] + [p.entry for p in waiting]
    # A removed snapshot stays named as removed while its header may still be read anywhere: in a pack
    # that goes in this run too, since an old state that a kill leaves behind would still list it.
    still_there = {bid for p in packs.values() for t, bid, _, _ in p.entry.blobs.rows() if t == BlobType.SNAPSHOT}
    state = StateDelta(packs=listed, deleted=sorted(deleted & still_there), condemned=verdict)
    sid, sealed = state.encode(repo.keyring)
    storage.put(ResourceType.STATE, sid, sealed)
    for old in sids:
        if old != sid:
            storage.delete(ResourceType.STATE, old)
    for pid in to_delete:
        try:
            storage.delete(ResourceType.PACKFILE, pid)
        except NotFound:
            continue  # deleted by an earlier run that was killed before its states were
    repo.forget_packs(set(to_delete))
    repo.refresh()
    return report


def in_use(repo: Repository, snapshots: Iterable[bytes], analyses: Iterable[bytes]) -> set[bytes]:
    """Every blob these snapshots use: their headers, tables and content, and those of the ``analyses``
    that are of one of them, with the results they link. A snapshot that cannot be read stops
    maintenance: what it uses cannot be known, and guessing would lose data."""
    snapshots = list(dict.fromkeys(snapshots))
    live: set[bytes] = set()
    objects: set[bytes] = set()

    def one(sid: bytes) -> tuple[set[bytes], set[bytes]]:
        try:
            header = Header.decode(repo.get_blob(BlobType.SNAPSHOT, sid), sid)
            used = {sid, *(piece.id for pieces in header.tables.values() for piece in pieces)}
            reader = SnapshotReader(repo, header)
            files = reader.table("files", ["object_id", "chunks"])
            oids: list[bytes | None] = files.column("object_id").to_pylist()
            counts = files.column("chunks").to_pylist()
            used.update(o for o, n in zip(oids, counts, strict=True) if n == 1 and o is not None)
            chunk_ids: list[bytes] = reader.table("chunks", ["chunk_id"]).column("chunk_id").to_pylist()  # type: ignore[assignment]
            used.update(chunk_ids)
            return used, {o for o in oids if o is not None}
        except IntegrityError as e:
            raise IntegrityError(f"snapshot {sid.hex()[:8]} cannot be read ({e}): maintenance cannot tell "
                                 "what it uses, and stops. Run `kloset check`, then remove the snapshot "
                                 "if it is lost.") from e

    with ThreadPoolExecutor(4) as pool:
        for used, oids in pool.map(one, snapshots):
            live |= used
            objects |= oids
    kept = set(snapshots)
    keys: set[str] = set()
    for aid in dict.fromkeys(analyses):
        try:
            h = AnalysisHeader.decode(repo.get_blob(BlobType.ANALYSIS, aid), aid)
        except IntegrityError:
            continue  # an analysis that cannot be read is of no use to anyone; check reports it
        if h.snapshot in kept:
            live.add(aid)
            live.update(piece.id for pieces in h.tables.values() for piece in pieces)
            keys.update(h.analyzers)
    mac_key = repo.keyring.mac_key
    live.update(result_id(mac_key, key, oid) for key in keys for oid in objects)
    return live


def _repack(repo: Repository, packs: list[_Pack], progress: bool | ProgressFn) -> list[PackEntry]:
    """Copy the blobs in use out of ``packs`` into new packs, which are uploaded (not yet listed)."""
    txn = repo.transaction()
    total = sum(p.live for p in packs)

    def fetch(p: _Pack) -> tuple[_Pack, bytes]:
        try:
            data = repo.storage.get(ResourceType.PACKFILE, p.entry.pack_id)
        except NotFound:
            data = b""
        if len(data) < p.total:
            raise IntegrityError(f"packfile {p.entry.pack_id.hex()[:16]} is missing or truncated: maintenance "
                                 "stops before it moves anything. Run `kloset check`.")
        return p, data

    moved = 0
    try:
        with bar(progress, "repack", unit="pack", total_items=len(packs)) as fn, ThreadPoolExecutor(2) as pool:
            # Packs are read two ahead of the one being copied: the store's latency hides behind the work.
            for done, (p, data) in enumerate(pool.map(fetch, packs), 1):
                sealer = repo.sealer(p.entry.wrapped_key)
                view = memoryview(data)
                for t, bid, off, n in p.homed:
                    try:
                        algo, payload = unseal_blob(sealer, t, bid, view[off:off + n])
                    except IntegrityError as e:
                        raise IntegrityError(f"blob {bid.hex()[:16]} in packfile {p.entry.pack_id.hex()[:16]}: "
                                             f"{e}; maintenance stops before it moves anything. Run "
                                             "`kloset check`.") from e
                    txn.add_compressed(BlobType(t), bid, algo, payload)
                    moved += n
                if fn is not None:
                    fn(done, moved if total else 0)
        return txn.flush()
    except BaseException:
        txn.abort()
        raise
