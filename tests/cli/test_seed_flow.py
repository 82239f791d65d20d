"""The seed's flow, word for word: back up an IMAP account named as a source, restore it into another
IMAP server named as a destination, with the `kloset` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.dovecot import DovecotServer, dovecot
from servers.mailboxes import fill, mailbox_state

KLOSET = [sys.executable, "-m", "kloset.cli.main"]


@pytest.fixture
def servers() -> Iterator[tuple[DovecotServer, DovecotServer]]:
    with dovecot() as source, dovecot() as destination:
        fill(source)
        yield source, destination


def test_an_imap_account_goes_through_named_entries_to_another_server(
        servers: tuple[DovecotServer, DovecotServer], tmp_path: Path) -> None:
    source, destination = servers
    # Each server has a self-signed certificate: the system's trust store is pointed at both, so the
    # commands need no key beyond the seed's.
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(Path(source.ca_file).read_text() + Path(destination.ca_file).read_text())
    env = dict(os.environ, KLOSET_CONFIG_DIR=str(tmp_path / "config"), KLOSET_REPOSITORY=str(tmp_path / "store"),
               KLOSET_PASSPHRASE="seed flow", XDG_CACHE_HOME=str(tmp_path / "cache"), KLOSET_AGENT="off",
               SSL_CERT_FILE=str(trusted))

    def kloset(line: str) -> str:
        out = subprocess.run([*KLOSET, *line.split()], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"kloset {line}: {out.stderr}"
        return out.stdout

    kloset(f"source add IMAPsrc imap://{source.host}:{source.port} username={source.user} "
           f"password={source.password} tls=starttls")
    kloset("backup @IMAPsrc")
    kloset(f"destination add IMAPdst imap://{destination.host}:{destination.port} username={destination.user} "
           f"password={destination.password} tls=starttls")
    snap = kloset("ls").split()[0]
    kloset(f"restore -to @IMAPdst {snap}")

    assert mailbox_state(destination) == mailbox_state(source)
    assert source.password not in kloset("source show IMAPsrc")
