"""Plugins that fail: every failure is a typed error that names the plugin, within ``plugin_timeout``;
a backup that fails commits no snapshot and leaves the store clean; no plugin process outlives it.

The misbehaving plugins are the fs connectors wrapped by the scripts in ``faulty/``, told what to do by
a config key (``fault``), or ``faulty/early.py``, which fails before it serves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset
from kloset.errors import (
    AuthenticationError,
    ConfigError,
    KlosetError,
    NotFound,
    PluginError,
    TransientError,
)
from kloset.importer import Importer, ImporterOptions
from kloset.plugin import API_VERSION, package
from kloset.plugin.launch import Launch, bound_class

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through /proc")

FAULTY = Path(__file__).parent / "faulty"
TIMEOUT = 2.0
# Every process a test starts inherits this variable, set to the test's own folder: what carries it
# after the test, the test left behind (plugins and whatever they started).
MARKER = "KLOSET_FAULT_SUITE"
BIG = 3 << 20  # content that crosses several of the protocol's 1 MiB chunks


@pytest.fixture(autouse=True)
def marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(MARKER, str(tmp_path))
    return str(tmp_path)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    for i in range(5):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
    (root / "sub" / "big.bin").write_bytes(os.urandom(BIG))
    return root


@pytest.fixture
def store(tmp_path: Path) -> Iterator[kloset.Store]:
    with kloset.create(str(tmp_path / "store"), plaintext=True) as s:
        yield s


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The faulty connectors installed as package ``faulty``, serving the scheme ``faulty://``."""
    plugins = tmp_path / "plugins"
    write_package(plugins / "faulty")
    monkeypatch.setenv("KLOSET_PLUGINS_DIR", str(plugins))
    return plugins


def write_package(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for script in ("cue.py", "importer.py", "exporter.py", "store.py"):
        shutil.copy(FAULTY / script, folder / script)
    (folder / "manifest.yaml").write_text(
        f"name: {folder.name}\nversion: 1.0.0\napi_version: {API_VERSION}\ndescription: fs, misbehaving on cue\n"
        "connectors:\n"
        "- {type: importer, protocols: [faulty], executable: importer.py}\n"
        "- {type: exporter, protocols: [faulty], executable: exporter.py}\n"
        "- {type: storage, protocols: [faulty], executable: store.py}\n")
    return folder / "manifest.yaml"


def connector(kind: str, command: list[str]) -> type:
    name = f"faulty/{kind}"
    return bound_class(kind, name, Launch(name, command), "fs")


def source(location: Path, fault: str = "") -> Importer:
    """The faulty importer plugin reading ``location``, told ``fault``."""
    cls = connector("importer", [sys.executable, str(FAULTY / "importer.py")])
    config = {"location": str(location), "plugin_timeout": str(TIMEOUT)}
    if fault:
        config["fault"] = fault
    imp: Importer = cls(config, ImporterOptions())
    return imp


def start_early(*args: str) -> None:
    connector("importer", [sys.executable, str(FAULTY / "early.py"), *args])(
        {"location": "/", "plugin_timeout": str(TIMEOUT)}, ImporterOptions())


def processes_left(marker: str, wait: float = 2.0) -> list[str]:
    """The command lines of the processes, this one aside, that carry the test's marker; a process that
    is on its way out is given ``wait`` seconds."""
    needle = f"\0{MARKER}={marker}\0".encode()
    deadline = time.monotonic() + wait
    while True:
        left = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle not in b"\0" + Path(entry.path, "environ").read_bytes():
                    continue
                left.append(Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:  # gone meanwhile, or not ours
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def snapshot_ids(store: kloset.Store) -> list[str]:
    return [s.id for s in store.snapshots()]


def failed_cleanly(store: kloset.Store, before: list[str]) -> None:
    """What a failed backup must leave: no new snapshot, and a store that checks clean."""
    assert snapshot_ids(store) == before, "a failed backup committed a snapshot"
    assert store.check().ok


# -- starting -------------------------------------------------------------------------------------------


def test_a_missing_executable_is_a_plugin_error_naming_the_plugin(tmp_path: Path, marked: str) -> None:
    with pytest.raises(PluginError, match=r"plugin faulty/importer: cannot start .*No such file"):
        connector("importer", [str(tmp_path / "absent")])({"location": "/"}, ImporterOptions())


def test_an_executable_without_the_execute_bit_is_a_plugin_error(tmp_path: Path, marked: str) -> None:
    script = tmp_path / "plugin"
    shutil.copy(FAULTY / "early.py", script)
    script.chmod(0o644)
    with pytest.raises(PluginError, match=r"plugin faulty/importer: cannot start .*Permission denied"):
        connector("importer", [str(script)])({"location": "/"}, ImporterOptions())


def test_a_plugin_that_exits_at_once_reports_its_exit_code(marked: str) -> None:
    with pytest.raises(PluginError, match=r"plugin faulty/importer .*\(exit code 3\)"):
        start_early("exit", "3")
    assert processes_left(marked) == []


def test_a_plugin_killed_by_a_signal_reports_the_signal(marked: str) -> None:
    with pytest.raises(PluginError, match=r"plugin faulty/importer .*\(killed by SIGKILL\)"):
        start_early("signal")
    assert processes_left(marked) == []


def test_a_plugin_that_writes_garbage_on_stdout_fails_well_before_the_timeout(marked: str) -> None:
    started = time.monotonic()
    with pytest.raises(PluginError, match="plugin faulty/importer did not speak gRPC"):
        start_early("garbage")
    assert time.monotonic() - started < TIMEOUT / 2
    assert processes_left(marked) == []


def test_a_plugin_that_never_answers_fails_after_the_timeout(marked: str) -> None:
    started = time.monotonic()
    with pytest.raises(PluginError, match=f"plugin faulty/importer: no answer within {TIMEOUT:g} s"):
        start_early("sleep")
    elapsed = time.monotonic() - started
    assert processes_left(marked) == []
    assert TIMEOUT <= elapsed < TIMEOUT + 1.5, f"the error came {elapsed:.1f} s after the start"


# -- an importer failing in a backup ----------------------------------------------------------------------


def test_an_importer_that_hangs_mid_scan_fails_the_backup_after_the_timeout(
        tree: Path, store: kloset.Store, marked: str) -> None:
    before = snapshot_ids(store)
    started = time.monotonic()
    with pytest.raises(PluginError, match=f"plugin faulty/importer sent nothing for {TIMEOUT:g} s"):
        store.backup(source(tree, "hang:3"))
    elapsed = time.monotonic() - started
    assert processes_left(marked) == []
    failed_cleanly(store, before)
    assert len(store.backup(source(tree)).files()) == 8
    assert TIMEOUT <= elapsed < TIMEOUT + 1.5, f"the error came {elapsed:.1f} s after the start"


@pytest.mark.parametrize("fault", ["crash:3", "crash-open:big.bin"], ids=["in the scan", "reading content"])
def test_an_importer_that_crashes_fails_the_backup_and_commits_nothing(
        tree: Path, store: kloset.Store, marked: str, fault: str) -> None:
    before = snapshot_ids(store)
    with pytest.raises(PluginError, match=r"plugin faulty/importer .*\(exit code 1\)"):
        store.backup(source(tree, fault))
    assert processes_left(marked) == []
    failed_cleanly(store, before)
    snap = store.backup(source(tree))
    assert snap.read_bytes(str(tree / "sub" / "big.bin")) == (tree / "sub" / "big.bin").read_bytes()


@pytest.mark.parametrize(("fault", "error"), [("auth", AuthenticationError), ("config", ConfigError)])
def test_an_error_the_connector_raises_in_init_comes_back_typed(
        tree: Path, marked: str, fault: str, error: type[KlosetError]) -> None:
    with pytest.raises(error) as caught:
        source(tree, fault)
    assert type(caught.value) is error
    assert processes_left(marked) == []
    assert "faulty/importer" in str(caught.value), f"the message does not name the plugin: {caught.value}"


def test_a_missing_source_comes_back_as_not_found(tmp_path: Path, marked: str) -> None:
    with pytest.raises(NotFound) as caught:
        source(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(caught.value)
    # Not a StoreNotFound, which would tell a caller such as Store.open that it may create one here.
    assert type(caught.value) is NotFound, f"came back as {type(caught.value).__name__}"
    assert processes_left(marked) == []
    assert "faulty/importer" in str(caught.value), f"the message does not name the plugin: {caught.value}"


def test_a_transient_error_mid_scan_fails_the_backup_typed(tree: Path, store: kloset.Store, marked: str) -> None:
    before = snapshot_ids(store)
    with pytest.raises(TransientError, match="the source went away") as caught:
        store.backup(source(tree, "transient:3"))
    assert processes_left(marked) == []
    failed_cleanly(store, before)
    assert "faulty/importer" in str(caught.value), f"the message does not name the plugin: {caught.value}"


def test_an_importer_in_snapshot_order_says_so_and_its_records_stream_in(tree: Path, marked: str) -> None:
    imp = source(tree)
    try:
        assert imp.ordered, "the fs importer's order did not reach the host"
    finally:
        imp.close()


def test_an_importer_that_says_it_is_ordered_and_is_not_fails_the_backup(
        tree: Path, store: kloset.Store, marked: str) -> None:
    before = snapshot_ids(store)
    with pytest.raises(KlosetError, match="not in snapshot order"):
        store.backup(source(tree, "disorder:2"))
    assert processes_left(marked) == []
    failed_cleanly(store, before)


def test_a_file_the_plugin_cannot_open_is_an_error_entry_of_the_snapshot(
        tree: Path, store: kloset.Store, marked: str) -> None:
    try:
        snap = store.backup(source(tree, "unreadable:f2.txt"))
    except KlosetError as e:
        pytest.fail(f"a file the plugin cannot open failed the whole backup: {type(e).__name__}: {e}")
    errors = snap.table("errors", ["path", "error"]).to_pylist()
    assert [r["path"] for r in errors] == [str(tree / "f2.txt")]
    assert "Permission denied" in errors[0]["error"]
    assert snap.read_bytes(str(tree / "f3.txt")) == b"file 3\n"
    assert processes_left(marked) == []


def test_a_connector_that_prints_to_stdout_still_works(
        tree: Path, store: kloset.Store, marked: str, capfd: pytest.CaptureFixture[str]) -> None:
    snap = store.backup(source(tree, "print"))
    assert snap.summary.errors == 0
    assert snap.read_bytes(str(tree / "sub" / "big.bin")) == (tree / "sub" / "big.bin").read_bytes()
    out, err = capfd.readouterr()
    assert "a stray line on stdout, in Init" in err
    assert f"a stray line on stdout, in the scan: {tree / 'f4.txt'}" in err
    assert "stray line" not in out
    assert processes_left(marked) == []


# -- an exporter or a store failing -----------------------------------------------------------------------


def test_an_exporter_crashing_mid_file_is_reported_and_loses_what_was_there(
        tree: Path, store: kloset.Store, installed: Path, tmp_path: Path, marked: str) -> None:
    snap = store.backup(str(tree))
    out = tmp_path / "out"
    big = out / "sub" / "big.bin"
    # A file the restore replaces is written under a temporary name and renamed into place (fs exporter),
    # so a writer that dies mid-file leaves the old one whole. (A fresh name is written in place, for
    # speed; a crash leaves it short, and the restore says it failed.)
    big.parent.mkdir(parents=True)
    big.write_bytes(b"what was there before")
    # The restore fails as a whole, or (as restore.py does with a file's KlosetError) goes on and reports
    # the file among its errors; either way what is said names the plugin and how it ended.
    try:
        report = snap.restore({"location": f"faulty://{out}", "fault": "crash:big.bin",
                               "plugin_timeout": str(TIMEOUT)})
    except PluginError as e:
        said = str(e)
    else:
        said = dict(report.errors).get(str(tree / "sub" / "big.bin"), "")
        assert said, f"the crash went unreported: {report}"
    assert re.search(r"plugin faulty/exporter .*\(exit code 1\)", said), said
    assert processes_left(marked) == []
    assert big.read_bytes() == b"what was there before"


@pytest.mark.parametrize("resource", ["packfile", "state", "lock"])
def test_a_store_plugin_crashing_in_a_backup_commits_nothing(
        tree: Path, installed: Path, tmp_path: Path, marked: str, resource: str) -> None:
    location = {"location": f"faulty://{tmp_path / 'store'}", "plugin_timeout": str(TIMEOUT)}
    with kloset.create(location, plaintext=True) as s:
        before = [s.backup(str(tree)).id]
    (tree / "new.txt").write_text("new content, for a new packfile\n")
    with (pytest.raises(PluginError, match=r"plugin faulty/storage .*\(exit code 1\)"),
          kloset.open({**location, "fault": f"crash:{resource}"}) as s):
        s.backup(str(tree))
    assert processes_left(marked) == []
    with kloset.open(location) as s:
        failed_cleanly(s, before)
        assert s.backup(str(tree)).read_text(str(tree / "new.txt")) == "new content, for a new packfile\n"
        assert s.check().ok


# -- the command line ------------------------------------------------------------------------------------


def test_the_command_line_exits_8_on_a_plugin_error(tree: Path, tmp_path: Path, marked: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PLUGINS_DIR", str(tmp_path / "plugins"))
    monkeypatch.setenv("KLOSET_CONFIG_DIR", str(tmp_path / "config"))
    package.add(package.create(write_package(tmp_path / "src" / "faulty"), output_dir=tmp_path))

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kloset.cli.main", *argv], capture_output=True, text=True,
                              timeout=60)

    assert run("source", "add", "crashing", f"faulty://{tree}", "fault=crash:3", "plugin_timeout=2").returncode == 0
    assert run("at", str(tmp_path / "store"), "create", "--plaintext").returncode == 0
    done = run("at", str(tmp_path / "store"), "backup", "@crashing")
    assert done.returncode == PluginError.exit_code == 8, done.stderr
    assert "plugin faulty/importer" in done.stderr
    assert processes_left(marked) == []
    with kloset.open(str(tmp_path / "store")) as s:
        assert s.snapshots() == [] and s.check().ok
