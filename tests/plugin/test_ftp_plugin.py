"""The FTP connector as a plugin (connectors/ftp/plugin.py, started as its manifest says) against a real
server: the importer and exporter conformance suites through the plugin boundary, a backup and restore
through it, and its config checked against the package's schema before the plugin starts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.ftp import FTPServer, ftp_server

import kloset
from kloset.errors import ConfigError, NotFound
from kloset.exporter import Exporter
from kloset.importer import Importer, ImporterOptions
from kloset.objects import EntryType, entry_type
from kloset.plugin import manifest
from kloset.plugin.exporter import PluginExporter
from kloset.plugin.installed import ENVIRONMENT
from kloset.plugin.launch import Launch, bound_class
from kloset.registry import exporter_for
from kloset.testing.exporter_suite import ExporterConformance
from kloset.testing.importer_suite import SYMLINKS, TREE, ImporterConformance, build_tree

CONNECTORS = Path(__file__).resolve().parents[2] / "connectors"


def plugin_class(folder: Path, kind: str) -> Any:
    """The connector class of ``kind`` that the package in ``folder`` declares: each instance starts the
    plugin as the manifest says, its config checked against the manifest's validator first."""
    m = manifest.load(folder / manifest.FILENAME)
    spec = next(s for s in m.connectors if s.type == kind)
    name = f"{m.name}/{kind}"
    return bound_class(kind, name, Launch(name, spec.command, spec.flags, spec.validate_config), spec.protocols[0])


def install(folder: Path, plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package folder put where installed packages live, as ``kloset pkg add`` leaves one."""
    shutil.copytree(folder, plugins / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv(ENVIRONMENT, str(plugins))


FTPPluginImporter = plugin_class(CONNECTORS / "ftp", "importer")
FTPPluginExporter = plugin_class(CONNECTORS / "ftp", "exporter")


def remote(server: FTPServer, local: Path) -> str:
    return "/" + local.relative_to(server.root).as_posix()


class Served:
    """Each test gets a server of its own serving its ``tmp_path``."""

    tls = False
    server: FTPServer

    @pytest.fixture(autouse=True)
    def _serve(self, tmp_path: Path) -> Iterator[None]:
        with ftp_server(tmp_path, tls=self.tls) as self.server:
            yield


class TestFTPPluginImporterConformance(Served, ImporterConformance):
    supports_symlinks = False  # MLSD shows a link as what it points to (see tests/connectors/test_ftp.py)

    def make_importer(self, tree: Path, options: ImporterOptions | None = None) -> Importer:
        for rel in SYMLINKS:
            (tree / rel).unlink()
        importer: Importer = FTPPluginImporter(self.server.config(remote(self.server, tree)), options)
        return importer


class TestFTPSPluginImporterConformance(TestFTPPluginImporterConformance):
    tls = True


class TestFTPPluginExporterConformance(Served, ExporterConformance):
    supports_symlinks = False
    supports_hardlinks = False
    supports_fifos = False
    supports_mtime = False  # pyftpdlib sets the times of files only

    def make_exporter(self, target: Path) -> Exporter:
        exporter: Exporter = FTPPluginExporter(self.server.config(remote(self.server, target)))
        return exporter

    def local(self, exporter: Exporter, path: str) -> Path:
        return self.server.root / exporter.root.lstrip("/") / path

    def read_file(self, exporter: Exporter, path: str) -> bytes:
        return self.local(exporter, path).read_bytes()

    def entry_type(self, exporter: Exporter, path: str) -> EntryType | None:
        try:
            return entry_type(os.lstat(self.local(exporter, path)).st_mode)
        except FileNotFoundError:
            return None


class TestFTPSPluginExporterConformance(TestFTPPluginExporterConformance):
    tls = True


def ftp_tree(base: Path) -> Path:
    """The suite's tree under ``base``, without its symlinks: MLSD shows a link as what it points to."""
    tree = build_tree(base)
    for rel in SYMLINKS:
        (tree / rel).unlink()
    return tree


def same_tree(restored: Path) -> None:
    """``restored`` holds the suite's tree (links aside)."""
    for rel, content in TREE.items():
        if content is None:
            assert (restored / rel).is_dir(), rel
        else:
            assert (restored / rel).read_bytes() == content, rel


def test_backup_and_restore_through_the_ftp_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ftp_tree(tmp_path)
    install(CONNECTORS / "ftp", tmp_path / "plugins", monkeypatch)
    store = kloset.create(str(tmp_path / "store"), plaintext=True)
    with ftp_server(tmp_path) as s:
        snap = store.backup(FTPPluginImporter(s.config("/tree")), progress=False)
        destination = s.config("/restored")
        assert isinstance(exporter_for(destination), PluginExporter)  # the restore's exporter: the plugin
        report = snap.restore(destination)
    assert report.errors == []
    assert (snap.header.importer_type, snap.header.importer_root) == ("ftp", "/tree")
    assert snap.summary.errors == 0 and snap.summary.files == sum(c is not None for c in TREE.values())
    same_tree(tmp_path / "restored")
    assert store.check().ok


def test_a_key_the_connector_does_not_read_is_refused_before_the_plugin_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Additional properties are not allowed \('tsl' was unexpected\)"):
        FTPPluginImporter({"location": "ftp://127.0.0.1/x", "tsl": "explicit"})


def test_a_config_without_location_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'location' is a required property"):
        FTPPluginExporter({"password": "secret"})


@pytest.mark.parametrize("key", ["tls", "passive", "tls_no_verify", "timeout"])
def test_a_bad_value_names_its_key_and_never_the_value(key: str) -> None:
    with pytest.raises(ConfigError, match=f"config key '{key}'") as caught:
        FTPPluginImporter({"location": "ftp://127.0.0.1/x", key: "s3cr3t"})
    assert "s3cr3t" not in str(caught.value)


def test_the_schema_takes_values_in_any_case_as_the_connector_does(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as s:
        FTPPluginImporter(s.config("/", tls="None", passive="TRUE")).close()


def test_the_connector_errors_reach_the_host_with_their_type(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as s, pytest.raises(NotFound, match=r"^plugin ftp/importer: ftp: stat /no/such/folder"):
        FTPPluginImporter(s.config("/no/such/folder"))


def test_host_keys_are_not_sent_to_the_plugin(tmp_path: Path) -> None:
    # retries and plugin_timeout are the host's: the schema, which has no such keys, never sees them.
    with ftp_server(tmp_path) as s:
        FTPPluginImporter(s.config("/", retries="3", plugin_timeout="30")).close()
