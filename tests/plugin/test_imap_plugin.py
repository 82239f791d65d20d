"""The IMAP connector as a plugin (connectors/imap/plugin.py, started as its manifest says) against real
dovecot servers: the importer's structural conformance tests and a backup from one server restored into
another, both through the plugin boundary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.dovecot import DovecotServer, dovecot
from servers.mailboxes import MAIL, fill, mailbox_state

import kloset
from kloset.errors import AuthenticationError, ConfigError
from kloset.importer import Importer, ImporterOptions
from kloset.plugin.exporter import PluginExporter
from kloset.registry import exporter_for
from kloset.testing.importer_suite import ImporterConformance

from .test_ftp_plugin import CONNECTORS, install, plugin_class

IMAPPluginImporter = plugin_class(CONNECTORS / "imap", "importer")
IMAPPluginExporter = plugin_class(CONNECTORS / "imap", "exporter")


@pytest.fixture(scope="module")
def source() -> Iterator[DovecotServer]:
    with dovecot() as server:
        fill(server)
        yield server


@pytest.fixture
def fresh() -> Iterator[DovecotServer]:
    with dovecot() as server:
        yield server


class TestIMAPPluginImporterConformance(ImporterConformance):
    """The suite's structural tests on the filled account, as tests/connectors/test_imap.py runs them: an
    IMAP account cannot hold the suite's tree."""

    supports_symlinks = False
    supports_excludes = False

    @pytest.fixture(autouse=True)
    def _server(self, source: DovecotServer) -> None:
        self.server = source

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        importer: Importer = IMAPPluginImporter(self.server.config(), options)
        return importer

    def _not_a_tree(self, tmp_path: Path) -> None:
        pytest.skip("an IMAP account cannot hold the suite's tree (see tests/connectors/test_imap.py)")

    test_every_entry_is_yielded_exactly_once = _not_a_tree
    test_entry_types_match_the_tree = _not_a_tree
    test_file_content_reads_back_through_open = _not_a_tree
    test_file_modification_times_are_reported = _not_a_tree


def test_backup_and_restore_through_the_imap_plugins_keeps_every_message(
        source: DovecotServer, fresh: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = mailbox_state(source)
    install(CONNECTORS / "imap", tmp_path / "plugins", monkeypatch)
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    snap = store.backup(IMAPPluginImporter(source.config()), progress=False)
    assert snap.summary.errors == 0 and snap.summary.files == sum(map(len, MAIL.values()))
    assert snap.header.importer_type == "imap"
    assert snap.read_bytes("/日本/1,F-nihon.eml") == MAIL["日本"][0][0]
    assert isinstance(exporter_for(fresh.config()), PluginExporter)  # the restore's exporter: the plugin
    report = snap.restore(fresh.config())
    assert report.errors == []
    assert mailbox_state(fresh) == before
    assert mailbox_state(source) == before  # nothing marked \Seen by the backup


def test_a_wrong_password_is_an_authentication_error_through_the_plugin(fresh: DovecotServer) -> None:
    with pytest.raises(AuthenticationError, match=r"imap: "):
        IMAPPluginImporter(fresh.config(password="wrong"))


@pytest.mark.parametrize(("config", "message"), [
    ({"username": "u"}, "'location' is a required property"),
    ({"location": "imap://127.0.0.1", "user": "u"}, r"\('user' was unexpected\)"),
    ({"location": "imap://127.0.0.1", "tls": "ssl"}, "config key 'tls'"),
    ({"location": "imaps://127.0.0.1"}, "config key 'location'"),
])
def test_a_config_outside_the_schema_is_refused_before_the_plugin_starts(config: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IMAPPluginExporter(config)


def test_a_config_the_schema_lets_through_is_checked_by_the_connector() -> None:
    with pytest.raises(ConfigError, match="imap: no username"):
        IMAPPluginImporter({"location": "imap://127.0.0.1"})
