"""Restoring a snapshot (or part of it) through an exporter.

Paths are made relative to the restored base and checked before anything is written: a component that
is empty, ``.`` or ``..`` stops the restore with UnsafePathError. Directories are made in order on the
calling thread, file content is written by a pool of workers, and directory attributes are applied last,
deepest first, so that writing children does not disturb their times.
"""

from __future__ import annotations

import posixpath
import stat
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import KlosetError, NotFound, TransientError, UnsafePathError, Unsupported
from ..exporter import Exporter
from ..objects import FileInfo
from .reader import Batch, SnapshotReader
from .rows import row_info, row_pathname

ProgressFn = Callable[[int, int], None]
# A batch of files handed to a writer thread closes at this many files or bytes. Its content is fetched
# a window at a time (reader.Batch): large batches make few, large requests, which a remote store needs
# (a request per few small files left a restore from S3 or SFTP waiting on round trips).
_BATCH_FILES = 1024
_BATCH_BYTES = 16 << 20


#: What writing one file came to: None when written, else (why, whether the store was out of reach).
Outcome = tuple[str, bool] | None


@dataclass
class RestoreReport:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    others: int = 0
    bytes: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: How many of the errors came of a store that could not be reached (TransientError): worth retrying.
    transient: int = 0

    def failed(self, pathname: str, error: BaseException | tuple[str, bool]) -> None:
        why, transient = (str(error), isinstance(error, TransientError)) if isinstance(error, BaseException) \
            else error
        self.errors.append((pathname, why))
        self.transient += transient


def safe_relative(pathname: str, base: str) -> str | None:
    """The path below ``base`` ('' for base itself), None when it is not under base.

    Raises UnsafePathError for a path that names base's parent or a '.', '..' or empty component."""
    if pathname == base:
        return ""
    prefix = base.rstrip("/") + "/"
    if not pathname.startswith(prefix):
        return None
    rel = pathname[len(prefix):]
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePathError(f"refusing to restore {pathname!r}: it would land outside the target")
    return rel


def restore(reader: SnapshotReader, exporter: Exporter, path: str | None = None, *, workers: int = 4,
            progress: ProgressFn | None = None) -> RestoreReport:
    h = reader.header
    base = posixpath.normpath(path) if path else (h.importer_root or "/")
    only: str | None = None
    try:
        kind = reader.find(base)["type"]
    except NotFound:
        if path:
            raise
        kind = "dir"  # a source that records no entry for its root: restore everything below it
    if kind != "dir":
        # a single entry (named, or the whole snapshot of one file): restore it by its name
        only, base = base, posixpath.dirname(base)
    xattrs: dict[str, dict[str, bytes]] = {}
    for x in reader.rows("xattrs"):
        xattrs.setdefault(row_pathname(x), {})[x["name"]] = x["value"]
    report = RestoreReport()
    dirs: list[tuple[str, FileInfo, dict[str, bytes]]] = []
    links: dict[tuple[int, int], tuple[str, Future[list[Outcome]]]] = {}
    # Files go to the pool in batches: one hand-over per batch rather than per file keeps the threads
    # from trading the GIL back and forth for every small file.
    futures: deque[tuple[list[tuple[str, int]], Future[list[Outcome]]]] = deque()
    batch: list[tuple[str, FileInfo, dict[str, Any], dict[str, bytes]]] = []
    batch_bytes = 0

    def write_all(items: list[tuple[str, FileInfo, dict[str, Any], dict[str, bytes]]]) -> list[Outcome]:
        """Write each file; the error of each (None when written) and whether it was transient."""
        errors: list[Outcome] = []
        content = Batch(reader, [row for _, _, row, _ in items])
        for k, (rel, info, _, xa) in enumerate(items):
            try:
                exporter.write_file(rel, info, content.content(k))
                exporter.set_attributes(rel, info, xa)
                errors.append(None)
            except UnsafePathError:
                raise
            except (KlosetError, OSError) as e:
                errors.append((str(e), isinstance(e, TransientError)))
        return errors

    def submit() -> Future[list[Outcome]]:
        nonlocal batch, batch_bytes
        fut = pool.submit(write_all, batch)
        futures.append(([(posixpath.join(base, rel) if rel else base, info.size) for rel, info, _, _ in batch], fut))
        batch, batch_bytes = [], 0
        if len(futures) > 256:
            settle(64)
        return fut

    def settle(keep: int) -> None:
        # wait for all but the newest ``keep`` batches, so memory stays bounded on huge trees
        while len(futures) > keep:
            files, fut = futures.popleft()
            try:
                outcomes = fut.result()
            except UnsafePathError:
                raise
            except (KlosetError, OSError) as e:  # the batch failed as a whole
                outcomes = [(str(e), isinstance(e, TransientError))] * len(files)
            for (pathname, size), error in zip(files, outcomes, strict=True):
                if error is None:
                    report.files += 1
                    report.bytes += size
                else:
                    report.failed(pathname, error)
            if progress is not None:
                progress(report.files + report.dirs, report.bytes)

    with ThreadPoolExecutor(workers, thread_name_prefix="kloset-restore") as pool:
        for row in reader.rows("files"):
            pathname = row_pathname(row)
            if only is not None and pathname != only:
                continue
            rel = safe_relative(pathname, base)
            if rel is None:
                continue
            info = row_info(row)
            xa = xattrs.get(pathname, {})
            kind = row["type"]
            if rel == "":
                if kind == "dir":
                    dirs.append((rel, info, xa))
                continue
            try:
                if kind == "dir":
                    exporter.mkdir(rel, info)
                    dirs.append((rel, info, xa))
                    report.dirs += 1
                elif kind == "file":
                    key = (info.dev, info.ino)
                    first = links.get(key) if info.nlink > 1 else None
                    # The first name closes its batch, so its outcome is that batch's last; when it
                    # failed, this name is written as a file of its own (and fails the same way).
                    if first is not None and first[1].result()[-1] is None and exporter.hardlink(rel, first[0]):
                        report.files += 1
                        continue
                    batch.append((rel, info, row, xa))
                    batch_bytes += info.size
                    if info.nlink > 1 and first is None:
                        links[key] = (rel, submit())  # out now: its other names wait for it
                    elif len(batch) >= _BATCH_FILES or batch_bytes >= _BATCH_BYTES:
                        submit()
                elif kind == "symlink":
                    exporter.symlink(rel, row["target"] or "", info)
                    exporter.set_attributes(rel, info, xa)
                    report.symlinks += 1
                elif stat.S_ISSOCK(info.mode):
                    continue
                else:
                    exporter.special(rel, info)
                    exporter.set_attributes(rel, info, xa)
                    report.others += 1
            except UnsafePathError:
                raise
            except (Unsupported, NotFound, KlosetError, OSError) as e:
                report.failed(pathname, e)
            if progress is not None:
                progress(report.files + report.dirs, report.bytes)
        if batch:
            submit()
        settle(0)
    for rel, info, xa in reversed(dirs):
        if rel:
            try:
                exporter.set_attributes(rel, info, xa)
            except (KlosetError, OSError) as e:
                report.failed(rel, e)
    exporter.close()
    return report
