"""A mailbox tree with nested folders, non-ASCII names, flags, keywords and dates, for IMAP tests: put
into a dovecot (:func:`fill`) and read back whole (:func:`mailbox_state`)."""

from __future__ import annotations

import datetime

from .dovecot import DovecotServer

UTC = datetime.UTC
FOLDERS = ["Archive", "Archive/2024", "Größe", "Größe/Übersicht", "日本", "a.b"]
# mailbox -> messages as (content, flags, INTERNALDATE)
MAIL: dict[str, list[tuple[bytes, tuple[bytes, ...], datetime.datetime]]] = {
    "INBOX": [
        (b"From: a@example.org\r\nSubject: Hello\r\n\r\nfirst\r\n", (b"\\Seen",),
         datetime.datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)),
        (b"From: b@example.org\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?= / plan\r\n\r\nsecond\r\n",
         (b"\\Answered", b"\\Flagged", b"$Label1", b"project-x.2024"),
         datetime.datetime(2022, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))),
        (b"From: c@example.org\r\n\r\nno subject, a draft deleted\r\n", (b"\\Draft", b"\\Deleted"),
         datetime.datetime(2019, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
    "Archive/2024": [(b"Subject: old\r\n\r\n" + b"line of archive\r\n" * 2000, (b"\\Seen", b"Work"),
                      datetime.datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC))],
    "Größe/Übersicht": [(b"Subject: =?utf-8?q?Gr=C3=B6=C3=9Fe?=\r\n\r\numlaut\r\n", (),
                         datetime.datetime(2020, 2, 29, 0, 0, 0, tzinfo=UTC))],
    "日本": [(b"Subject: nihon\r\n\r\nkonnichiwa\r\n", (b"\\Flagged",),
             datetime.datetime(2018, 7, 7, 7, 7, 7, tzinfo=UTC))],
    "a.b": [(b"Subject: dotted\r\n\r\nin a.b\r\n", (b"$Important",),
             datetime.datetime(2017, 1, 1, 0, 0, 0, tzinfo=UTC))],
}


def fill(server: DovecotServer) -> None:
    with server.client() as imap:
        for folder in FOLDERS:
            imap.create_folder(folder)
        for mailbox, messages in MAIL.items():
            for content, flags, when in messages:
                imap.append(mailbox, content, flags, when)


def mailbox_state(server: DovecotServer) -> dict[str, list[tuple[bytes, frozenset[bytes], float]]]:
    """Every mailbox with its messages as (content, flags but \\Recent, INTERNALDATE as an instant)."""
    state: dict[str, list[tuple[bytes, frozenset[bytes], float]]] = {}
    with server.client() as imap:
        imap.normalise_times = False
        for flags, _, name in imap.list_folders():
            if b"\\Noselect" in flags:
                state[name] = []
                continue
            uids = imap.select_folder(name, readonly=True)[b"EXISTS"] and imap.search("ALL")
            answer = imap.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
            state[name] = sorted((m[b"BODY[]"], frozenset(m[b"FLAGS"]) - {b"\\Recent"},
                                  m[b"INTERNALDATE"].timestamp()) for m in answer.values())
    return state
