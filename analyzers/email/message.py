"""Reading one RFC 5322 message: who sent it to whom, when, about what, and what it carries.

Parsing is the standard library's (:class:`email.parser.BytesParser` with ``policy.default``), which
reads what it can of a damaged message and notes the rest as defects. Some damaged headers make it
raise when a header is read: those are read again from their raw text, and nothing here raises on any
input; a message the parser had to work around is marked ``malformed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

#: Headers whose addresses count as found in the message (beside From, To and Cc).
ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
                   "resent-to", "resent-cc", "resent-bcc", "return-path", "delivered-to",
                   "disposition-notification-to")
_PARSER = BytesParser(policy=policy.default)


@dataclass
class Attachment:
    """A part of a message that is a file of its own rather than its text."""

    name: str
    content_type: str
    #: Bytes of the decoded payload (after base64 or quoted-printable).
    size: int


@dataclass
class Summary:
    """What one message says of itself, read from its headers and its parts' headers."""

    sender: str = ""
    sender_name: str = ""
    recipients: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    #: When it was written, in UTC, or None when its Date header is missing or unreadable.
    date: datetime | None = None
    subject: str = ""
    message_id: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    #: Every address of the headers in :data:`ADDRESS_HEADERS`, once per occurrence, in header order.
    addresses: list[str] = field(default_factory=list)
    #: Whether the parser met damage: a header it could not read, a missing boundary, bad base64...
    malformed: bool = False

    def record(self) -> dict[str, Any]:
        """The summary as plain data (the date as ISO 8601 with its offset), as an analysis record holds it."""
        return {
            "sender": _text(self.sender), "sender_name": _text(self.sender_name),
            "recipients": [_text(a) for a in self.recipients], "cc": [_text(a) for a in self.cc],
            "date": self.date.isoformat() if self.date else None, "subject": _text(self.subject),
            "message_id": _text(self.message_id),
            "attachments": [{"name": _text(a.name), "content_type": _text(a.content_type), "size": a.size}
                            for a in self.attachments],
        }


def summarize(raw: bytes) -> Summary:
    """The summary of the message ``raw`` holds, line ends LF or CRLF; damage is noted, never raised."""
    out = Summary()
    try:
        # Headers first: only a multipart message, or one sent as a file in itself, carries
        # attachments, and a body left unparsed saves most of the time any other message takes.
        msg = _PARSER.parsebytes(raw, headersonly=True)
        carries = any(key.lower() == "content-disposition" or (key.lower() == "content-type"
                                                               and "multipart" in value.lower())
                      for key, value in msg.raw_items())
        if carries:
            msg = _PARSER.parsebytes(raw)
    except Exception:  # the parser is meant to be total; a message that proves otherwise is still only damaged
        out.malformed = True
        return out
    assert isinstance(msg, EmailMessage)
    reader = _HeaderReader(msg)
    named = {name: reader.addresses(name) for name in ADDRESS_HEADERS}
    if named["from"]:
        out.sender_name, out.sender = named["from"][0]
    out.recipients = [addr for _, addr in named["to"]]
    out.cc = [addr for _, addr in named["cc"]]
    out.addresses = [addr for found in named.values() for _, addr in found]
    out.subject = reader.text("subject")
    out.message_id = reader.text("message-id")
    out.date = reader.date()
    if carries:
        out.attachments = _attachments(msg, reader)
    elif msg.defects:
        reader.damaged = True
    out.malformed = reader.damaged
    return out


class _HeaderReader:
    """Reads a message's headers the structured way, falling back on their raw text where that raises."""

    def __init__(self, msg: EmailMessage) -> None:
        self.msg = msg
        self.damaged = False

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) of each address in every ``name`` header, groups flattened."""
        found: list[tuple[str, str]] = []
        for value in self._all(name):
            try:
                found.extend((a.display_name, a.addr_spec) for a in value.addresses)
            except Exception:  # a header the structured parser chokes on: the simpler one reads most of them
                self.damaged = True
                found.extend(getaddresses([_unfolded(str(value))]))
        return [(display, addr) for display, addr in found if addr]

    def text(self, name: str) -> str:
        values = self._all(name)
        if not values:
            return ""
        text = _unfolded(str(values[0])).strip()
        if "\ufffd" in text:  # bytes of no declared charset, replaced: the raw text still holds them
            raw = next((value for key, value in self.msg.raw_items() if key.lower() == name), "")
            if any("\udc80" <= c <= "\udcff" for c in raw):
                return _unfolded(raw).strip()
        return text

    def date(self) -> datetime | None:
        values = self._all("date")
        if not values:
            return None
        if hasattr(values[0], "datetime"):
            when = values[0].datetime  # None when the parser could not read it
        else:  # the raw text: the structured parse raised
            try:
                when = parsedate_to_datetime(_unfolded(values[0]))
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
        if when is None:
            return None
        # A zone of -0000 means "UTC, the local zone unknown" (RFC 5322 3.3): the parser leaves it naive.
        try:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):  # a year 1 or 9999 date pushed out of range by its zone
            return None

    def part_header(self, part: EmailMessage, read: Callable[[EmailMessage], Any], default: Any) -> Any:
        """``read(part)``, or ``default`` where the part's headers make it raise."""
        try:
            return read(part)
        except Exception:  # damaged part headers: read what else there is
            self.damaged = True
            return default

    def _all(self, name: str) -> list[Any]:
        try:
            return list(self.msg.get_all(name) or [])
        except Exception:  # structured parsing failed: the raw values, as text
            self.damaged = True
            return [value for key, value in self.msg.raw_items() if key.lower() == name]


def _attachments(msg: EmailMessage, reader: _HeaderReader) -> list[Attachment]:
    found: list[Attachment] = []
    for part in _leaves(msg, reader):
        disposition = reader.part_header(part, EmailMessage.get_content_disposition, None)
        name = reader.part_header(part, EmailMessage.get_filename, None)
        if disposition != "attachment" and name is None:
            continue
        content_type = reader.part_header(part, EmailMessage.get_content_type, "application/octet-stream")
        found.append(Attachment(_unfolded(name or ""), content_type, _payload_size(part)))
        if part.defects:  # decoding notes its own (bad base64 padding...)
            reader.damaged = True
    return found


def _leaves(part: EmailMessage, reader: _HeaderReader) -> list[EmailMessage]:
    """The parts that hold content, depth first; an attached message is one leaf, not opened."""
    if part.defects:
        reader.damaged = True
    if reader.part_header(part, EmailMessage.get_content_maintype, "") != "multipart":
        return [part]
    payload = part.get_payload()
    subs = [sub for sub in payload if isinstance(sub, EmailMessage)] if isinstance(payload, list) else []
    return [leaf for sub in subs for leaf in _leaves(sub, reader)]


def _payload_size(part: EmailMessage) -> int:
    try:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return len(payload)
        inner = part.get_payload()  # an attached message: its size as it stands
        messages = [m for m in inner if isinstance(m, EmailMessage)] if isinstance(inner, list) else []
        return sum(len(m.as_bytes()) for m in messages)
    except Exception:  # a payload too damaged to decode has no size to tell
        return 0


def _unfolded(value: str) -> str:
    return "".join(value.splitlines())


def _text(value: str) -> str:
    """``value`` as text that encodes: the parser keeps undecodable header bytes as lone surrogates.

    Those bytes are read as UTF-8 if they are that, else as Windows-1252, the commonest unlabelled
    8-bit charset in mail."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that escapes no byte
        raw = value.encode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")
