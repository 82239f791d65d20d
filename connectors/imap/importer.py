"""IMAP source: an account's mailboxes as directories and its messages as ``.eml`` files.

Mailboxes come from one LIST; each mailbox is listed with one UID FETCH of FLAGS, INTERNALDATE,
RFC822.SIZE and the Subject header, and its records come out in snapshot order, a mailbox's messages
and sub-mailboxes merged by name. Content is fetched later, in batches (see content.py).
"""

from __future__ import annotations

import functools
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError
from imapclient.response_parser import parse_fetch_response

from kloset.errors import KlosetError, NotFound
from kloset.importer import Excludes, Importer, ImporterOptions
from kloset.objects import FileInfo, Record

from .content import Fetcher, MessageRef
from .names import escape_segment, message_name, safe_subject
from .session import Pool, Session, settings, translated

_LISTING = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
_SUBJECT = b"BODY[HEADER.FIELDS"
_NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}


@dataclass
class Mailbox:
    """A node of the mailbox tree: a directory, selectable when ``name`` is set."""

    name: str | None = None
    children: dict[str, Mailbox] = field(default_factory=dict)


class IMAPImporter(Importer):
    """Backs up an IMAP account, or one mailbox and those below it (``imap://HOST/MAILBOX``)."""

    protocols = ("imap",)
    ordered = True

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._settings = settings(self.config)
        self._root = "/" + "/".join(escape_segment(s) for s in self._settings.mailbox)
        self._excludes = Excludes(self.options.excludes)
        self._pool = Pool(self._settings)
        self._fetcher = Fetcher(self._pool)
        self.ping()

    @property
    def origin(self) -> str:
        return self._settings.origin

    @property
    def type(self) -> str:
        return "imap"

    @property
    def root(self) -> str:
        return self._root

    def ping(self) -> None:
        with translated(f"{self._settings.origin}"), self._pool.session() as session:
            session.client.noop()

    def close(self) -> None:
        self._pool.close()

    def scan(self) -> Iterator[Record]:
        top = self._tree()
        yield from self._walk(top, self._root.rstrip("/"), _directory(self._root))

    def _tree(self) -> Mailbox:
        """The mailbox tree under the location's mailbox, from one LIST."""
        with translated(f"listing the mailboxes of {self._settings.origin}"), self._pool.session() as session:
            listed = session.client.list_folders()
        top = Mailbox()
        prefix = self._settings.mailbox
        found = not prefix
        for flags, delimiter, name in listed:
            segments = tuple(name.split(delimiter.decode())) if delimiter else (name,)
            if segments[: len(prefix)] != prefix:
                continue
            found = True
            node = top
            for segment in segments[len(prefix) :]:
                node = node.children.setdefault(escape_segment(segment), Mailbox())
            if not {f.lower() for f in flags} & _NOT_SELECTABLE:
                node.name = name
        if not found:
            raise NotFound(f"imap: no mailbox {'/'.join(prefix)!r} on {self._settings.origin}")
        return top

    def _walk(self, node: Mailbox, path: str, record: Record) -> Iterator[Record]:
        """A mailbox's directory record, then its messages and sub-mailboxes in snapshot order."""
        entries: list[tuple[bytes, Record | tuple[str, Mailbox]]] = []
        if node.name is not None:
            messages, record.error = self._messages(node.name, path)
            entries += [(m.pathname.encode(), m) for m in messages]
        yield record
        for name, child in node.children.items():
            entries.append((f"{path}/{name}".encode(), (name, child)))
        entries.sort(key=lambda e: e[0])
        for _, entry in entries:
            if isinstance(entry, Record):
                if not self._excluded(entry.pathname, False):
                    yield entry
                continue
            name, child = entry
            pathname = f"{path}/{name}"
            if self._excluded(pathname, True):
                continue
            yield from self._walk(child, pathname, _directory(pathname))

    def _excluded(self, pathname: str, is_dir: bool) -> bool:
        return self._excludes(pathname[len(self._root) :].lstrip("/"), is_dir)

    def _messages(self, mailbox: str, path: str) -> tuple[list[Record], str | None]:
        """The records of a mailbox's messages from one UID FETCH (not sorted), or why there are none."""
        with translated(f"listing mailbox {mailbox!r}"), self._pool.session() as session:
            try:
                status = session.examine(mailbox)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as e:  # the server's NO: the mailbox went away since the LIST
                return [], f"cannot select mailbox {mailbox!r}: {e}"
            uidvalidity = session.uidvalidity
            fetched = _fetch_all(session) if status.get(b"EXISTS") else {}
        records = []
        for uid, item in fetched.items():
            try:
                flags = tuple(f.decode("utf-8", "replace") for f in item[b"FLAGS"])
                when: datetime = item[b"INTERNALDATE"]
                size = int(item[b"RFC822.SIZE"])
            except (KeyError, TypeError, ValueError):
                continue  # an unsolicited update, not an answer to the listing
            name = message_name(uid, flags, safe_subject(_subject_header(item)))
            mtime_ns = int(when.timestamp()) * 1_000_000_000
            info = FileInfo(name, size, stat.S_IFREG | 0o600, mtime_ns, mtime_ns, ino=uidvalidity << 32 | uid)
            ref = MessageRef(mailbox, uidvalidity, uid, size)
            records.append(Record(f"{path}/{name}", info, open=functools.partial(self._fetcher.open, ref)))
        return records, None


def _fetch_all(session: Session) -> dict[int, dict[bytes, Any]]:
    """Every message of the selected mailbox, in one UID FETCH ``1:*``."""
    # IMAPClient.fetch() keeps only the UIDs it was given as numbers, and a listing names none.
    typ, data = session.client._imap.uid("FETCH", "1:*", _LISTING)
    if typ != "OK":
        raise KlosetError(f"imap: UID FETCH failed: {data!r}")
    return dict(parse_fetch_response(data, False, True))


def _subject_header(item: dict[bytes, Any]) -> bytes:
    # Servers echo the section as they please: (SUBJECT), ("SUBJECT"), (Subject).
    for key, value in item.items():
        if key.upper().startswith(_SUBJECT) and isinstance(value, bytes):
            return value
    return b""


def _directory(pathname: str) -> Record:
    return Record(pathname, FileInfo(pathname.rpartition("/")[2] or "/", mode=stat.S_IFDIR | 0o700))
