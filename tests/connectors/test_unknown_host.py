"""A host name that does not resolve, for every network connector: a TransientError naming the
connector, at once. The resolver is made to answer "no such name" here, so no lookup leaves the
machine."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from kloset.connectors.ftp.exporter import FTPExporter
from kloset.connectors.ftp.importer import FTPImporter
from kloset.connectors.imap.exporter import IMAPExporter
from kloset.connectors.imap.importer import IMAPImporter
from kloset.connectors.s3.exporter import S3Exporter
from kloset.connectors.s3.importer import S3Importer
from kloset.connectors.s3.store import S3Store
from kloset.connectors.sftp.exporter import SFTPExporter
from kloset.connectors.sftp.importer import SFTPImporter
from kloset.connectors.sftp.store import SFTPStore
from kloset.errors import TransientError

HOST = "unknown.example"
S3 = {"location": f"s3://{HOST}:9000/bucket", "use_tls": "false", "access_key": "a", "secret_access_key": "b",
      "retries": "0"}
SFTP = {"location": f"sftp://user@{HOST}/data", "password": "p"}
FTP = {"location": f"ftp://{HOST}/data"}
IMAP = {"location": f"imap://{HOST}", "username": "u", "password": "p"}

CASES: dict[str, Callable[[], Any]] = {
    "s3 store": lambda: S3Store(S3).open(),
    "s3 source": lambda: S3Importer(S3).ping(),
    "s3 destination": lambda: S3Exporter(S3).ping(),
    "sftp store": lambda: SFTPStore(SFTP).open(),
    "sftp source": lambda: SFTPImporter(SFTP).ping(),
    "sftp destination": lambda: SFTPExporter(SFTP).ping(),
    "ftp source": lambda: FTPImporter(FTP).ping(),
    "ftp destination": lambda: FTPExporter(FTP).ping(),
    "imap source": lambda: IMAPImporter(IMAP).ping(),
    "imap destination": lambda: IMAPExporter(IMAP).ping(),
}


@pytest.fixture(autouse=True)
def _resolver_knows_no_such_host(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == HOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("case", list(CASES))
def test_an_unknown_host_is_a_transient_error_naming_the_connector(case: str) -> None:
    started = time.monotonic()
    with pytest.raises(TransientError, match=f"^{case.split()[0]}: "):
        CASES[case]()
    assert time.monotonic() - started < 5
