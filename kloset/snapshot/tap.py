"""Analyzers fed the content a backup reads, so that it is read once for backup and analysis.

A backup's content readers (threads, or worker processes) hand each file's pieces to a :class:`Tap`;
its results are stored in the backup's transaction, and the analysis that follows the backup links
them to the snapshot (:mod:`.analysis`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analyzer import Analyzer
from ..objects import BlobType
from ..registry import analyzer_class
from .results import encode_result, result_id

if TYPE_CHECKING:
    from ..repository.transaction import Transaction


class Tap:
    """Analyzers fed the content a backup reads, so that it is read once for backup and analysis."""

    def __init__(self, names: list[str], options: dict[str, dict[str, str]] | None = None) -> None:
        self.names = list(names)
        self.options = dict(options or {})
        self.classes = [analyzer_class(n) for n in names]

    def start(self, txn: Transaction, content_type: str, path: str, object_id: bytes | None) -> list[Analyzer]:
        """Fresh analyzers for one file's content: those that want its type. With the content's object ID
        known before it is fed, those with a result for it are left out, and the rest claim theirs."""
        out = []
        for c in self.classes:
            try:
                if not c.wants(content_type, path):
                    continue
                key = c.key(self.options.get(c.name))
                if object_id is not None and not txn.reserve(result_id(txn.repo.keyring.mac_key, key, object_id)):
                    continue
                out.append(c(self.options.get(c.name), content_type=content_type, path=path))
            except Exception:  # an analyzer's bug never fails a backup: the analysis after it reports it
                continue
        return out

    @staticmethod
    def feed(analyzers: list[Analyzer], offset: int, piece: bytes | memoryview) -> None:
        """The next piece of the content, at ``offset``, to each analyzer (up to its ``max_bytes``)."""
        for a in list(analyzers):
            limit = a.max_bytes
            try:
                if limit is None or offset < limit:
                    a.feed(bytes(piece if limit is None else piece[: limit - offset]))
            except Exception:  # the analysis that follows the backup runs it again, and reports it
                analyzers.remove(a)

    @staticmethod
    def finish(txn: Transaction, object_id: bytes, analyzers: list[Analyzer],
               claimed: bool = False) -> list[tuple[bytes, bytes]]:
        """Store the result of each analyzer the store has none from (``claimed``: known to have none);
        (result ID, plaintext) of each."""
        out = []
        for a in analyzers:
            rid = result_id(txn.repo.keyring.mac_key, a.key(a.options), object_id)
            if not claimed and rid in txn.repo.index.blobs:
                continue  # content met before: its result is known
            try:
                plain = encode_result(a.key(a.options), object_id, a.finish())
            except Exception:  # as in start()
                continue
            if claimed or txn.reserve(rid):
                txn.add(BlobType.RESULT, rid, plain)
                out.append((rid, plain))
        return out
