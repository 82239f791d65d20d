#!/usr/bin/env python3
"""IMAP benchmark: ``kloset backup`` of a dovecot account holding 10,000 small, realistic messages.

    python tests/bench/imap.py [--messages 10000] [--bar 60]

Starts a dovecot on 127.0.0.1, fills it with MULTIAPPEND (a few hundred messages a command, in three
mailboxes, with flags and spread dates), then times the ``kloset`` command backing it up into a fresh
local store over STARTTLS, and once more unchanged. Prints the figures and whether the first backup
is under the bar.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers.dovecot import DovecotServer, dovecot

MAILBOXES = {"INBOX": 0.6, "Archive/2024": 0.3, "Work/Projects": 0.1}
WORDS = ["meeting", "budget", "report", "invoice", "schedule", "review", "draft", "update", "project",
         "deadline", "customer", "release", "quarter", "travel", "expense", "contract", "proposal",
         "agenda", "summary", "feedback"]
FLAGS: tuple[tuple[bytes, ...], ...] = ((b"\\Seen",), (b"\\Seen", b"\\Answered"), (), (b"\\Flagged",),
                                        (b"\\Seen", b"$Label1"))
PASSPHRASE = "imap benchmark passphrase"


def messages(count: int, rng: random.Random) -> Iterator[dict[str, object]]:
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    for i in range(count):
        when = start + datetime.timedelta(minutes=rng.randrange(0, 3 * 365 * 24 * 60))
        subject = " ".join(rng.choices(WORDS, k=rng.randint(2, 6))).capitalize()
        body = "\r\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(rng.randint(3, 40)))
        text = (f"From: Person {i % 97} <person{i % 97}@example.org>\r\n"
                f"To: me@example.com\r\n"
                f"Subject: {subject}\r\n"
                f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
                f"Message-ID: <{i}.{rng.getrandbits(48):x}@example.org>\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
        yield {"msg": text.encode(), "flags": rng.choice(FLAGS), "date": when}


def fill(server: DovecotServer, count: int) -> None:
    rng = random.Random(0)
    with server.client() as imap:
        for mailbox, share in MAILBOXES.items():
            if mailbox != "INBOX":
                imap.create_folder(mailbox)
            batch: list[dict[str, object]] = []
            for message in messages(int(count * share), rng):
                batch.append(message)
                if len(batch) == 500:
                    imap.multiappend(mailbox, batch)
                    batch = []
            if batch:
                imap.multiappend(mailbox, batch)


def kloset(store: str, *argv: str, env: dict[str, str]) -> float:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "kloset.cli.main", "at", store, *argv],
                          env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"kloset {' '.join(argv)} failed: {done.stderr}")
    print(f"  kloset {argv[0]}: {done.stdout.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--bar", type=float, default=60.0, help="seconds the first backup must stay under")
    args = parser.parse_args()
    with dovecot() as server, tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        fill(server, args.messages)
        print(f"filled dovecot with {args.messages} messages in {time.monotonic() - start:.1f} s")
        # SSL_CERT_FILE makes the default TLS context trust the test certificate, as tls_ca_file would.
        env = {**os.environ, "KLOSET_PASSPHRASE": PASSPHRASE, "SSL_CERT_FILE": server.ca_file,
               "XDG_CACHE_HOME": os.path.join(tmp, "cache"), "KLOSET_AGENT": "off"}
        store = os.path.join(tmp, "store")
        kloset(store, "create", env=env)
        location = f"imap://{server.user}:{server.password}@{server.host}:{server.port}"
        first = kloset(store, "backup", location, env=env)
        again = kloset(store, "backup", location, env=env)
    verdict = "under" if first < args.bar else "NOT under"
    print(f"backup of {args.messages} messages: {first:.1f} s ({args.messages / first:.0f} messages/s), "
          f"{verdict} {args.bar:.0f} s; unchanged re-backup: {again:.1f} s")
    if first >= args.bar:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
