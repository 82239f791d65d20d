"""The sftp store, importer and exporter against a real OpenSSH sshd on 127.0.0.1 (and, for password
logins, asyncssh's in-process server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.sshd import SSHServer, sshd

from kloset.connectors.sftp.exporter import SFTPExporter
from kloset.connectors.sftp.importer import SFTPImporter
from kloset.connectors.sftp.store import SFTPStore
from kloset.exporter import Exporter
from kloset.importer import Importer, ImporterOptions
from kloset.storage import Storage
from kloset.testing.exporter_suite import ExporterConformance
from kloset.testing.importer_suite import ImporterConformance
from kloset.testing.storage_suite import StorageConformance


@pytest.fixture(scope="module")
def server() -> Iterator[SSHServer]:
    with sshd() as s:
        yield s


class _OnServer:
    @pytest.fixture(autouse=True)
    def _server(self, server: SSHServer) -> None:
        self.server = server


class TestSFTPStoreConformance(_OnServer, StorageConformance):
    def make_store(self, tmp_path: Path) -> Storage:
        return SFTPStore(self.server.config(str(tmp_path / "store")))


class TestSFTPImporterConformance(_OnServer, ImporterConformance):
    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        return SFTPImporter(self.server.config(str(tree)), options)


class TestSFTPExporterConformance(_OnServer, ExporterConformance):
    supports_hardlinks = False
    supports_fifos = False

    def make_exporter(self, target: Path) -> Exporter:
        return SFTPExporter(self.server.config(str(target)))
