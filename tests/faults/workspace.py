"""What every fault scenario shares: an isolated environment, the command line run as a process, a
source tree that changes between rounds, and a ledger of the snapshots reported complete."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.trees import Entry, MiB, build_many_files, manifest

import kloset
from kloset.errors import KlosetError

Manifest = dict[bytes, Entry]

#: Exit codes of a typed error (kloset/errors.py); 1 is also what an untyped OSError gives.
TYPED_CODES = frozenset(range(2, 12))


@contextmanager
def isolated_environment(root: Path) -> Iterator[None]:
    """The user's cache, config, default store, passphrases, plugins and agent kept out, for this
    process and the commands it starts."""
    saved = dict(os.environ)
    os.environ.update({"XDG_CACHE_HOME": str(root / "cache"), "XDG_DATA_HOME": str(root / "data"),
                       "XDG_CONFIG_HOME": str(root / "config"), "KLOSET_AGENT": "off",
                       "KLOSET_PLUGINS_DIR": str(root / "plugins")})
    for var in ("KLOSET_PASSPHRASE", "KLOSET_PASSPHRASE_CMD", "KLOSET_REPOSITORY"):
        os.environ.pop(var, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"kloset-faults-{prefix}-") as d:
        root = Path(d)
        with isolated_environment(root):
            yield root


@dataclass
class Result:
    argv: list[str]
    code: int
    out: str
    err: str

    def typed_failure(self) -> list[str]:
        """Why this failed run is not a clean, typed failure ([] when it is one)."""
        problems = []
        if self.code == 0:
            problems.append("succeeded")
        elif self.code not in TYPED_CODES:
            problems.append(f"exit code {self.code}")
        if "Traceback" in self.err:
            problems.append("printed a traceback")
        if self.code != 0 and "kloset: error:" not in self.err:
            problems.append(f"no error message ({self.err.strip()[-200:]!r})")
        return problems


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kloset.cli.main", *args]


def cli(*args: str, timeout: float = 300) -> Result:
    """Run ``kloset ARGS`` to its end."""
    argv = command(*args)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def start(*args: str) -> subprocess.Popen[str]:
    """Start ``kloset ARGS`` in a process group of its own, so that a kill reaches its workers too."""
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended in between
        os.killpg(proc.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen[str]) -> Result:
    out, err = proc.communicate(timeout=300)
    return Result(list(map(str, proc.args)), proc.returncode, out, err)  # type: ignore[arg-type]


class Source:
    """A tree of many small files and a few big random ones; each change leaves new data to back up and
    data that only older snapshots hold."""

    def __init__(self, root: Path, rng: random.Random, *, dirs: int = 8, per_dir: int = 50,
                 big: int = 2, big_size: int = 2 * MiB) -> None:
        self.root = root
        self.rng = rng
        self.big_size = big_size
        self.small = build_many_files(root, dirs=dirs, per_dir=per_dir)
        self.bigs: list[Path] = []
        self.rounds = 0
        for _ in range(big):
            self._add_big()

    def _add_big(self) -> None:
        p = self.root / f"big-{self.rounds}-{len(self.bigs)}.bin"
        p.write_bytes(self.rng.randbytes(self.big_size))
        self.bigs.append(p)

    def change(self) -> None:
        self.rounds += 1
        for p in self.rng.sample(self.small, 10):
            p.write_text(self.rng.randbytes(48).hex() + "\n")
        self._add_big()
        if len(self.bigs) > 3:
            self.bigs.pop(0).unlink()

    def manifest(self) -> Manifest:
        return manifest(self.root)


def describe(report: Any) -> str:
    """A CheckReport in one line."""
    parts = []
    for name in ("damaged_packs", "damaged_blobs", "missing_blobs", "damaged_snapshots", "damaged_states",
                 "damaged_files"):
        n = len(getattr(report, name))
        if n:
            parts.append(f"{n} {name.replace('_', ' ')}")
    return ", ".join(parts) or "ok"


def restore_problems(snap: kloset.Snapshot, expected: Manifest, scratch: Path) -> list[str]:
    """Restore ``snap`` into a fresh folder and compare it with what was backed up."""
    out = scratch / f"restore-{snap.short_id}"
    shutil.rmtree(out, ignore_errors=True)
    try:
        report = snap.restore(out)
        if report.errors:
            return [f"restore of {snap.short_id}: {len(report.errors)} errors, first {report.errors[0]}"]
        got = manifest(out)
        if got != expected:
            differ = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
            return [f"restore of {snap.short_id} differs at {len(differ)} paths, first {differ[0]!r}"]
        return []
    finally:
        shutil.rmtree(out, ignore_errors=True)


@dataclass
class Ledger:
    """The snapshots of one store that were reported complete, each with the tree it must restore to,
    keyed by the snapshot's timestamp (which a copy into another store keeps) and in that order."""

    expected: dict[int, Manifest] = field(default_factory=dict)

    def add(self, snap: kloset.Snapshot, tree: Manifest) -> None:
        self.expected[snap.header.timestamp_ns] = tree

    def forget(self, timestamp_ns: int) -> None:
        del self.expected[timestamp_ns]

    def verify(self, location: kloset.Location, scratch: Path, rng: random.Random, *,
               pending: Manifest | None = None, pending_from: dict[int, Manifest] | None = None) -> list[str]:
        """Why the store at ``location`` does not hold its complete snapshots intact ([] if it does).

        A snapshot the store lists but the ledger lacks is one an interrupted run completed without
        saying so: it is taken in with the tree ``pending`` (the source during that run), or with its
        tree in ``pending_from`` (a copy's origin); any other unknown snapshot is a problem."""
        problems: list[str] = []
        try:
            with kloset.open(location) as store:
                snaps = store.snapshots()
                listed = {s.header.timestamp_ns: s for s in snaps}
                lost = [t for t in self.expected if t not in listed]
                if lost:
                    problems.append(f"{len(lost)} snapshots reported complete are gone")
                for t in [t for t in listed if t not in self.expected]:
                    if pending_from is not None and t in pending_from:
                        self.expected[t] = pending_from[t]
                    elif pending is not None:
                        self.expected[t], pending = pending, None
                    else:
                        problems.append(f"snapshot {listed[t].short_id} appeared from nowhere")
                report = store.check(read_data=True)
                if not report.ok:
                    problems.append(f"check: {describe(report)}")
                present = [t for t in self.expected if t in listed]
                # The newest, and a random earlier one: over many rounds, every snapshot gets restored.
                chosen = {present[-1], rng.choice(present)} if present else set()
                for t in sorted(chosen):
                    problems += restore_problems(listed[t], self.expected[t], scratch)
        except (KlosetError, OSError) as e:  # an OSError is a failure the engine did not type
            problems.append(f"{type(e).__name__}: {e}")
        return problems

    def take_in(self, location: kloset.Location, tree: Manifest) -> None:
        """The one snapshot the store lists and the ledger lacks, reported complete with ``tree``."""
        with kloset.open(location) as store:
            (new,) = [s for s in store.snapshots() if s.header.timestamp_ns not in self.expected]
        self.add(new, tree)

    def restore_all(self, location: kloset.Location, scratch: Path) -> list[str]:
        problems: list[str] = []
        with kloset.open(location) as store:
            listed = {s.header.timestamp_ns: s for s in store.snapshots()}
            for t, tree in self.expected.items():
                if t not in listed:
                    problems.append(f"a snapshot reported complete is gone at the end ({t})")
                else:
                    problems += restore_problems(listed[t], tree, scratch)
        return problems
