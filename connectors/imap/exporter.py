"""IMAP destination: directories become mailboxes, ``.eml`` files are APPENDed with their flags and date.

A file named as the importer names messages (``<UID>[,<flags>][-<subject>].eml``) is appended with the
flags its name holds; any other file is appended as it is, with no flag. Its modification time becomes
the message's INTERNALDATE. The UID in the name is not kept: the server gives each message a new one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from kloset.errors import UnsafePathError, Unsupported
from kloset.exporter import Exporter, checked_parts
from kloset.objects import FileInfo

from .names import escape_segment, parse_message_name, unescape_segment
from .session import Pool, Session, settings, translated


class IMAPExporter(Exporter):
    """Restores into an IMAP account, or below one mailbox of it (``imap://HOST/MAILBOX``)."""

    protocols = ("imap",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._settings = settings(self.config)
        self._pool = Pool(self._settings)
        self._lock = threading.Lock()
        with translated(f"listing the mailboxes of {self._settings.origin}"), self._pool.session() as session:
            listed = session.client.list_folders()
            # The delimiter of the personal namespace: what a LIST of "" reports.
            delimiter = next((d for _, d, _ in session.client.list_folders("", "")), None) or b"/"
        self._delimiter = delimiter.decode()
        self._known = {name for _, _, name in listed}
        prefix = self._settings.mailbox
        for depth in range(1, len(prefix) + 1):  # parents first: not every server makes them itself
            self._create(self._delimiter.join(prefix[:depth]))

    @property
    def root(self) -> str:
        return "/" + "/".join(escape_segment(s) for s in self._settings.mailbox)

    def _mailbox(self, path: str) -> str:
        """The name of the mailbox a restored directory path stands for ('' for the root)."""
        if path == "":
            return self._delimiter.join(self._settings.mailbox)
        _check(path)
        try:
            segments = [unescape_segment(p) for p in path.split("/")]
        except UnicodeDecodeError as e:
            raise Unsupported(f"imap: {path!r} does not unescape to a mailbox name") from e
        for segment in segments:
            if self._delimiter in segment or not segment:
                raise Unsupported(f"imap: a mailbox name cannot hold {segment!r} on this server "
                                  f"(its hierarchy delimiter is {self._delimiter!r})")
        return self._delimiter.join([*self._settings.mailbox, *segments])

    def _create(self, name: str) -> None:
        with self._lock:
            if name in self._known:
                return
        with translated(f"creating mailbox {name!r}"), self._pool.session() as session:
            _create(session, name)
        with self._lock:
            self._known.add(name)

    def mkdir(self, path: str, info: FileInfo) -> None:
        if path == "":
            raise UnsafePathError("imap: refusing to create the target itself")
        self._create(self._mailbox(path))

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        _check(path)
        parent, _, name = path.rpartition("/")
        mailbox = self._mailbox(parent)
        if not mailbox:
            raise Unsupported(f"imap: {path}: a message needs a mailbox; restore into imap://HOST/MAILBOX")
        parsed = parse_message_name(name)
        flags = [f.encode() for f in parsed.flags] if parsed else []
        when = datetime.fromtimestamp(info.mtime_ns / 1e9, UTC) if info.mtime_ns else None
        message = b"".join(content)
        with translated(f"appending {path!r}"), self._pool.session() as session:
            try:
                session.client.append(mailbox, message, flags, when)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as e:
                if "TRYCREATE" not in str(e).upper():
                    raise
                _create(session, mailbox)  # a file restored on its own, its mailbox never made
                session.client.append(mailbox, message, flags, when)

    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        _check(path)
        raise Unsupported(f"imap: {path}: a mailbox cannot hold a symbolic link")

    def special(self, path: str, info: FileInfo) -> None:
        _check(path)
        raise Unsupported(f"imap: {path}: a mailbox cannot hold a {info.type}")

    def hardlink(self, path: str, existing: str) -> bool:
        _check(path)
        _check(existing)
        return False  # a message appended twice is two messages: the restore appends it again

    def close(self) -> None:
        self._pool.close()


def _check(path: str) -> None:
    """Refuse a path that is not plainly relative: restore never passes one, and none is obeyed."""
    checked_parts(path, "imap")


def _create(session: Session, name: str) -> None:
    """CREATE a mailbox, and be content when it exists already."""
    try:
        session.client.create_folder(name)
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        if not session.client.folder_exists(name):
            raise
