"""Reading many blobs at once: one ranged read per run of neighbouring blobs in a pack.

A remote store answers each request after a round trip, whatever its size up to megabytes, so reading
a tree of small files a blob a request waits on the network once per file. A backup writes a folder's
files one after another into the same pack, so the blobs a restore wants next mostly sit side by side:
a batch of them costs one request per run of neighbours. Gaps up to :data:`GAP` bytes are read through
rather than split, and a run stops at :data:`SPAN` bytes so that memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import IntegrityError, KlosetError, NotFound
from ..objects import BlobType, ResourceType

if TYPE_CHECKING:  # the repository reads single blobs through :func:`unseal` too
    from .repo import Repository

#: Bytes of other blobs between two wanted ones that are read rather than costing a second request.
GAP = 256 << 10
#: The most bytes one request reads.
SPAN = 16 << 20

Outcome = bytes | KlosetError


def get_blobs(repo: Repository, blob_type: BlobType, ids: Sequence[bytes], *,
              verify: bool = False) -> list[Outcome]:
    """Each blob's plaintext, in the order of ``ids``, or the error that blob alone met (a damaged blob
    costs only the files that hold it). :meth:`Repository.get_blob`'s checks, fewer requests."""
    out: list[Outcome | None] = [None] * len(ids)
    wanted: dict[bytes, list[tuple[int, int, bytes, int]]] = {}  # pack -> (offset, length, wrapped, index)
    for i, blob_id in enumerate(ids):
        try:
            t, pack_id, wrapped, offset, length = repo.index.locate(blob_id)
        except NotFound as e:
            out[i] = e
            continue
        if t != blob_type:
            out[i] = IntegrityError(f"blob {blob_id.hex()[:16]} is a {BlobType(t).name}, not a {blob_type.name}")
            continue
        wanted.setdefault(pack_id, []).append((offset, length, wrapped, i))
    for pack_id, blobs in wanted.items():
        blobs.sort()
        for run in _runs(blobs):
            start = run[0][0]
            end = max(offset + length for offset, length, _, _ in run)
            try:
                data = memoryview(repo.storage.get(ResourceType.PACKFILE, pack_id, start, end - start))
            except NotFound:
                error = IntegrityError(f"packfile {pack_id.hex()[:16]} is missing")
                for *_, i in run:
                    out[i] = error
                continue
            except KlosetError as e:  # the store failed this request: every blob it held failed with it
                for *_, i in run:
                    out[i] = e
                continue
            for offset, length, wrapped, i in run:
                out[i] = unseal(repo, blob_type, ids[i], pack_id, wrapped,
                                data[offset - start:offset - start + length], length, verify)
    return out  # type: ignore[return-value]  # every index was given an outcome above


def _runs(blobs: list[tuple[int, int, bytes, int]]) -> list[list[tuple[int, int, bytes, int]]]:
    """``blobs`` (sorted by offset) in runs that one read each covers."""
    runs: list[list[tuple[int, int, bytes, int]]] = []
    end = start = -1
    for blob in blobs:
        offset, length = blob[0], blob[1]
        if runs and offset - end <= GAP and offset + length - start <= SPAN:
            runs[-1].append(blob)
            end = max(end, offset + length)
        else:
            runs.append([blob])
            start, end = offset, offset + length
    return runs


def unseal(repo: Repository, blob_type: BlobType, blob_id: bytes, pack_id: bytes, wrapped: bytes,
           sealed: bytes | memoryview, length: int, verify: bool) -> Outcome:
    """A blob's plaintext from its ``sealed`` bytes as read from its pack, or what is wrong with them."""
    if len(sealed) != length:
        return IntegrityError(f"packfile {pack_id.hex()[:16]} is truncated")
    try:
        return repo.open_sealed(blob_type, blob_id, wrapped, pack_id, sealed, verify)
    except IntegrityError as e:
        return e
