"""Cutting an mbox into its messages as the content streams in.

Every line that starts with ``From `` begins a message (mboxo and mboxrd alike, as Python's
:mod:`mailbox` reads them); a body line that began so was written quoted, ``>From ``, and mboxrd
quotes already quoted lines once more (``>>From ``), so one ``>`` is taken off each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SEPARATOR = b"\nFrom "
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)


@dataclass(frozen=True)
class Piece:
    """One message of an mbox, as it stands in the file."""

    #: Its byte offset in the mbox, where its ``From `` line starts.
    offset: int
    #: Its bytes, ``From `` line included, quoting kept (so offsets within it are the file's).
    raw: bytes

    def message(self) -> bytes:
        """The message itself: no ``From `` line, no separating blank line, body lines unquoted."""
        _, _, rest = self.raw.partition(b"\n")
        if rest.endswith(b"\r\n\r\n"):
            rest = rest[:-2]
        elif rest.endswith(b"\n\n"):
            rest = rest[:-1]
        return _QUOTED_FROM.sub(rb"\1", rest) if b"\n>" in rest else rest


class Splitter:
    """Fed an mbox in order, gives each message once the next one's ``From `` line shows it complete.

    Only the message being read is held, so memory is bounded by the largest message."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._offset = 0  # of _pending in the mbox
        self._searched = 0  # _pending before this holds no separator

    def feed(self, data: bytes) -> Iterator[Piece]:
        """The messages that ``data`` completes."""
        self._pending += data
        while (at := self._pending.find(_SEPARATOR, self._searched)) >= 0:
            end = at + 1
            yield Piece(self._offset, bytes(self._pending[:end]))
            del self._pending[:end]
            self._offset += end
            self._searched = 0
        # A separator may straddle this piece and the next one.
        self._searched = max(0, len(self._pending) - len(_SEPARATOR) + 1)

    def finish(self) -> Iterator[Piece]:
        """The last message, once the content has ended."""
        if self._pending and not self._pending.isspace():
            yield Piece(self._offset, bytes(self._pending))
        self._pending.clear()
