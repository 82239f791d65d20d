"""The ``email`` analyzer: recognises RFC 5322 mail (one message, or an mbox of many) and summarises it.

A single message is what an ``.eml`` file or an IMAP source holds (line ends LF or CRLF); an mbox
starts with a ``From `` line and holds one message after another (see :mod:`.mbox`). Which one the
content is, if either, is decided from its first few KiB and its type and path hints (:mod:`.kind`);
anything else is not read further and gives an empty analysis.

The result's tags are ``mime:message/rfc822`` or ``mime:application/mbox``, plus ``email:malformed``
when a message was damaged (a header the parser could not read, a missing MIME boundary, bad
base64...). Its findings are the valid addresses of the headers (From, To, Cc, Bcc, Reply-To,
Sender, Return-Path, Delivered-To and their Resent- forms): one finding of category ``email`` per
address, masked (``j***@example.com``), with its count of occurrences and the byte offset of its first
appearance in the content (0 when it is written there in another form).

Its record is ``{"messages": [MESSAGE, ...]}``, in the content's order, each MESSAGE holding:

``sender``
    str: the address of the (first) From address, ``""`` when there is none.
``sender_name``
    str: that address's display name, RFC 2047 decoded, ``""`` when there is none.
``recipients``
    list[str]: the addresses of the To header(s), groups flattened.
``cc``
    list[str]: the addresses of the Cc header(s).
``date``
    str | None: the Date header in UTC as ISO 8601 with its offset (``2024-05-01T09:30:00+00:00``),
    None when it is missing or unreadable.
``subject``
    str: RFC 2047 decoded, unfolded.
``message_id``
    str: as written, angle brackets included (``<id@host>``), ``""`` when there is none.
``attachments``
    list of ``{"name": str, "content_type": str, "size": int}``: every part sent as an attachment or
    named as a file, depth first; ``name`` RFC 2231/2047 decoded (``""`` when unnamed), ``size`` the
    bytes of the decoded payload. An attached message is one attachment, not opened.

Every value is a str, int, list, dict or None, so the record packs as msgpack as it is.
"""

from __future__ import annotations

from typing import Any

from kloset.analyzer import Analysis, Analyzer

from .addresses import AddressTally
from .kind import SNIFF_BYTES, Kind, header_block_ended, hinted, sniff
from .mbox import Splitter
from .message import summarize


class Email(Analyzer):
    """Summarises each message of a single-message file or an mbox, and counts the addresses it names."""

    name = "email"
    version = 2
    # Files without an extension (an IMAP source's messages) are indexed as text/plain: they are read
    # too, and cost only the sniffed head when they are not mail.
    content_types = ("message/*", "application/mbox", "text/plain")
    max_bytes = 256 << 20
    table = "emails"

    def __init__(self, options: dict[str, str] | None = None, *, content_type: str = "", path: str = "") -> None:
        super().__init__(options, content_type=content_type, path=path)
        self._head = bytearray()
        self._decided = False
        self._kind: Kind | None = None
        self._message = bytearray()  # a single message, whole
        self._splitter = Splitter()  # an mbox, a message at a time
        self._records: list[dict[str, Any]] = []
        self._malformed = False
        self._tally = AddressTally()

    @classmethod
    def rows(cls, record: Any) -> list[dict[str, Any]]:
        """A row of ``emails`` per message: the record's messages, whose keys are the table's columns."""
        messages = record.get("messages") if isinstance(record, dict) else None
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    def feed(self, data: bytes) -> None:
        if not self._decided:
            room = SNIFF_BYTES - len(self._head)
            self._head += data[:room]
            if len(self._head) < SNIFF_BYTES and not header_block_ended(self._head):
                return
            self._decide(complete=False)
            if self._kind is None:
                return
            data = data[room:]
        if self._kind is not None and data:
            self._take(data)

    def finish(self) -> Analysis:
        if not self._decided:
            self._decide(complete=True)
        if self._kind is None:
            return Analysis()
        if self._kind is Kind.MBOX:
            for piece in self._splitter.finish():
                self._read(piece.message(), piece.raw, piece.offset)
        elif self._message:
            message = bytes(self._message)
            self._message.clear()
            self._read(message, message, 0)
        tags = [f"mime:{self._kind.value}"] + (["email:malformed"] if self._malformed else [])
        return Analysis(findings=self._tally.findings(), tags=tags, record={"messages": self._records})

    def _decide(self, *, complete: bool) -> None:
        self._decided = True
        head = bytes(self._head)
        self._head.clear()
        kind = sniff(head, hint=hinted(self.content_type, self.path), complete=complete)
        if kind is Kind.MBOX and self.content_type.startswith("message/"):
            # A saved message may keep its envelope line; its body lines are not quoted as an mbox's.
            kind = Kind.MESSAGE
        self._kind = kind
        if kind is not None:
            self._take(head)

    def _take(self, data: bytes) -> None:
        if self._kind is Kind.MBOX:
            for piece in self._splitter.feed(data):
                self._read(piece.message(), piece.raw, piece.offset)
            return
        room = (self.max_bytes or len(data)) - len(self._message)
        if len(data) > room:  # fed past the limit: what is held is read as a truncated message
            self._malformed = True
            data = data[:max(room, 0)]
        self._message += data

    def _read(self, message: bytes, raw: bytes, offset: int) -> None:
        """Summarise ``message``; ``raw`` is how it stands in the content, from byte ``offset``."""
        if not message or message.isspace():
            return
        summary = summarize(message)
        self._records.append(summary.record())
        self._malformed |= summary.malformed
        self._tally.add(summary.addresses, raw, offset)
