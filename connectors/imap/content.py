"""Message content for a backup, fetched in batches with ``BODY.PEEK[]`` (so nothing becomes \\Seen).

Opening a message does no I/O: it notes the message as wanted by the opening thread. The first read
of any of them fetches every message that thread has opened and not read yet, from the same mailbox,
in one UID FETCH. The backup opens a whole batch of files before it reads the first (see
``kloset.snapshot.workers.read_batch``), so a batch of records costs one round trip, not one each.
"""

from __future__ import annotations

import errno
import io
import threading
from dataclasses import dataclass
from typing import BinaryIO, cast

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from .session import Pool, translated

# The most message bytes (by RFC822.SIZE) fetched in one command beyond the one being read.
BATCH_BYTES = 8 << 20
_BODY = b"BODY[]"


@dataclass(frozen=True, slots=True)
class MessageRef:
    mailbox: str
    uidvalidity: int
    uid: int
    size: int


class MessageFile(io.RawIOBase):
    """A message's content, fetched on first read."""

    def __init__(self, fetcher: Fetcher, ref: MessageRef) -> None:
        super().__init__()
        self.ref = ref
        self._fetcher = fetcher
        self.data: bytes | None = None
        self.error: OSError | None = None
        self._at = 0

    def readable(self) -> bool:
        return True

    def _content(self) -> bytes:
        if self.closed:
            raise ValueError("read of a closed message")
        if self.data is None and self.error is None:
            self._fetcher.fill(self)
        if self.error is not None:
            raise self.error
        assert self.data is not None
        return self.data

    def read(self, size: int | None = -1) -> bytes:
        data = self._content()
        end = len(data) if size is None or size < 0 else min(len(data), self._at + size)
        piece, self._at = data[self._at : end], end
        return piece

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        piece = self.read(len(buffer))
        buffer[: len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        self.data = None
        self._fetcher.forget(self)
        super().close()


class Fetcher:
    """Fetches the content of messages opened by each thread, a mailbox's worth of them at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._local = threading.local()

    def _pending(self) -> list[MessageFile]:
        pending: list[MessageFile] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = []
        return pending

    def open(self, ref: MessageRef) -> BinaryIO:
        f = MessageFile(self, ref)
        self._pending().append(f)
        return cast(BinaryIO, f)

    def forget(self, f: MessageFile) -> None:
        pending = self._pending()
        if f in pending:
            pending.remove(f)

    def fill(self, f: MessageFile) -> None:
        """Fetch ``f`` and, in the same command, the other messages of its mailbox this thread awaits."""
        pending = self._pending()
        batch, total = [f], f.ref.size
        for other in pending:
            if (other is f or other.closed or other.ref.mailbox != f.ref.mailbox
                    or other.ref.uidvalidity != f.ref.uidvalidity):
                continue
            if total + other.ref.size > BATCH_BYTES:
                break
            batch.append(other)
            total += other.ref.size
        for member in batch:
            self.forget(member)
        ref = f.ref
        answer: dict[int, dict[bytes, object]] = {}
        with translated(f"reading mailbox {ref.mailbox!r}"), self._pool.session() as session:
            try:
                if session.selected != ref.mailbox:
                    session.examine(ref.mailbox)
            except IMAPClientAbortError:
                raise
            except IMAPClientError:
                session.selected = None  # the mailbox is gone: so are its messages
            # A mailbox made anew has a new UIDVALIDITY: its old UIDs name nothing any more.
            if session.selected == ref.mailbox and session.uidvalidity == ref.uidvalidity:
                answer = session.client.fetch([m.ref.uid for m in batch], ["BODY.PEEK[]"])
        for member in batch:
            data = answer.get(member.ref.uid, {}).get(_BODY)
            if isinstance(data, bytes):
                member.data = data
            else:
                member.error = OSError(errno.ENOENT, f"message {member.ref.uid} is no longer in mailbox "
                                                     f"{member.ref.mailbox!r}")
