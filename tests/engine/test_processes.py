"""Backups that read content in worker processes give the same snapshot as with threads."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import kloset
from kloset.snapshot import backup as backup_module
from kloset.snapshot import workers as workers_module


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for d in range(5):
        (src / f"d{d}").mkdir(parents=True)
        for i in range(40):
            (src / f"d{d}" / f"f{i}.txt").write_bytes(f"file {d}/{i}\n".encode() * (i + 1))
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    (src / "same1.txt").write_bytes(b"duplicate content\n" * 100)
    (src / "same2.txt").write_bytes(b"duplicate content\n" * 100)
    return src


def spy_on_workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the worker pools the backups start."""
    started: list[int] = []
    real = workers_module.ProcessReaders.__init__

    def init(self: workers_module.ProcessReaders, repo: Any, processes: int, **options: Any) -> None:
        started.append(processes)
        real(self, repo, processes, **options)

    monkeypatch.setattr(workers_module.ProcessReaders, "__init__", init)
    return started


def test_worker_processes_store_what_threads_store(tree: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(backup_module, "_PROCESSES_AFTER", 0)  # processes from the first batch on
    monkeypatch.setattr(backup_module, "_AWAIT_WORKERS", True)
    started = spy_on_workers(monkeypatch)
    with kloset.create(str(tmp_path / "p"), passphrase="secret") as store:
        snap = store.backup(str(tree), processes=2, progress=False)
        assert store.check().ok
        snap.restore(tmp_path / "out")
    with kloset.create(str(tmp_path / "t"), plaintext=True) as store:
        ref = store.backup(str(tree), processes=0, progress=False)
    for p in tree.rglob("*"):
        if p.is_file():
            assert (tmp_path / "out" / p.relative_to(tree)).read_bytes() == p.read_bytes()
    cols = ["path", "size", "content_type", "chunks"]
    assert snap.files(cols).equals(ref.files(cols))
    assert snap.summary.files == ref.summary.files
    assert started == [2]


def test_a_source_whose_openers_cannot_travel_falls_back_to_threads(tree: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(backup_module, "_PROCESSES_AFTER", 0)
    from kloset.connectors.fs.importer import FSImporter

    class LocalOpeners(FSImporter):
        def scan(self):  # type: ignore[no-untyped-def]
            for rec in super().scan():
                if rec.open is not None:
                    opener = rec.open
                    rec.open = lambda opener=opener: opener()  # a lambda does not pickle
                yield rec

    with kloset.create(str(tmp_path / "s"), plaintext=True) as store:
        snap = store.backup(LocalOpeners({"location": str(tree)}), processes=2, progress=False)
        assert snap.summary.files == 203 and store.check().ok


def test_workers_import_kloset_from_where_it_is_installed_not_from_the_current_folder(
        tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "cwd" / "kloset"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the kloset of the current folder')\n")
    monkeypatch.chdir(decoy.parent)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(backup_module, "_PROCESSES_AFTER", 0)
    monkeypatch.setattr(backup_module, "_AWAIT_WORKERS", True)
    started = spy_on_workers(monkeypatch)
    with kloset.create(str(tmp_path / "s"), plaintext=True) as store:
        snap = store.backup(str(tree), processes=2, progress=False)
        assert store.check().ok
    assert started == [2] and snap.summary.files == 203


def test_forked_workers_do_the_work_of_spawned_ones(tree: Path, tmp_path: Path) -> None:
    # Forking needs a process with no other thread: a fresh interpreter, as the command line is.
    script = f"""
import kloset
from kloset.snapshot import backup, workers
backup._PROCESSES_AFTER = 0
backup._AWAIT_WORKERS = True
workers.prefork(2)
with kloset.create({str(tmp_path / "s")!r}, plaintext=True) as store:
    snap = store.backup({str(tree)!r}, processes=2, progress=False)
    assert not workers._forked, "the backup's pool did not take the forked workers"
    assert store.check().ok
    snap.restore({str(tmp_path / "out")!r})
print(snap.summary.files)
"""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "203"
    for p in tree.rglob("*"):
        if p.is_file():
            assert (tmp_path / "out" / p.relative_to(tree)).read_bytes() == p.read_bytes()


def _processes_naming(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found


def test_forked_workers_a_backup_does_not_need_leave_with_the_command(tree: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store-for-forked-workers")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), KLOSET_PASSPHRASE="secret")

    def kloset_command(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kloset.cli.main", "at", store, *argv], capture_output=True,
                              text=True, timeout=120, env=env)

    assert kloset_command("create").returncode == 0
    for _ in range(2):  # the second backup reads nothing: its forked workers are never used
        done = kloset_command("backup", str(tree))
        assert done.returncode == 0, done.stderr
    assert "203 files" in done.stdout
    deadline = time.monotonic() + 10
    while _processes_naming(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_naming(store) == []
