"""kill -9 at random moments of backup, maintenance and sync, each run by the command line.

The moments are random delays after one of three events of the run: its start, its lock appearing in
the store, its first pack or state appearing; each delay is drawn over how long runs went on after that
event (measured on a clean run first), so that kills land in every phase: start-up, reading the source,
uploading packs, the commit, the deletes of maintenance. Nothing in the product is hooked: the suite
only watches the store's folders. The whole process group is killed, workers included, as a crash
would.
After each kill: every store opens, checks clean with its data read, still lists every snapshot that a
run reported complete and restores them as backed up; then the same operation runs again and succeeds.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.trees import MiB

import kloset
from kloset.errors import KlosetError, LockError

from .tally import Tally
from .workspace import Ledger, Manifest, Result, Source, finish, kill_group, start, workspace

KIND = "kill -9"


@dataclass
class Operation:
    """One operation as the kill rounds drive it."""

    name: str
    argv: list[str]
    #: The fs stores it writes, whose lock files a killed run leaves behind.
    stores: list[Path]
    #: Give the next run something to do (new data, forgotten snapshots).
    prepare: Callable[[], None]
    #: A run was reported complete: note what it made.
    completed: Callable[[], None]
    #: After a kill: why the stores are not intact ([] when they are).
    verify: Callable[[], list[str]]
    #: The same operation, run to its end in this process.
    again: Callable[[], None]
    #: Checks at the very end (every snapshot ever reported complete restores).
    final: Callable[[], list[str]] = field(default=lambda: [])


def lock_files(stores: list[Path]) -> set[Path]:
    return {p for s in stores for p in (s / "locks").glob("*")}


def resources(stores: list[Path]) -> set[Path]:
    """Every pack and state of the stores (leftover temporary files included)."""
    found: set[Path] = set()
    for s in stores:
        for d in ("packfiles", "states"):
            for bucket in os.scandir(s / d):
                found.update(Path(e.path) for e in os.scandir(bucket.path))
    return found


def bucket_times(stores: list[Path]) -> set[tuple[str, int]]:
    """When each bucket of packs and states last changed: cheaper to watch than every file in them."""
    return {(e.path, e.stat().st_mtime_ns) for s in stores for d in ("packfiles", "states")
            for e in os.scandir(s / d)}


def landing(before: set[Path], after: set[Path]) -> str:
    """Which writes a killed run had made: packs and states added (+) or deleted (-)."""
    parts = []
    for sign, changed in (("+", after - before), ("-", before - after)):
        for kind in ("packfiles", "states"):
            found = [p for p in changed if p.parent.parent.name == kind]
            temporary = sum(p.name.startswith(".tmp-") for p in found)
            if len(found) > temporary:
                parts.append(f"{sign}{kind[:-5] if kind == 'packfiles' else kind[:-1]}s")
            if temporary:
                parts.append(f"{sign}partial {kind[:-5] if kind == 'packfiles' else kind[:-1]}")
    return " ".join(parts) if parts else "no write"


#: Kills on one store before a fresh one is made: every check reads the whole store, which grows.
EPOCH = 20


def kill(tally: Tally, target: str, kills: int, rng: random.Random) -> None:
    """Kill runs of ``target`` (a key of OPERATIONS) ``kills`` times, on a fresh store every EPOCH kills."""
    while kills > 0:
        with workspace(f"kill-{target}") as root:
            kill_rounds(tally, OPERATIONS[target](root, rng), min(kills, EPOCH), rng)
        kills -= EPOCH


def kill_rounds(tally: Tally, op: Operation, kills: int, rng: random.Random) -> None:
    """Kill ``op`` at random moments until ``kills`` runs were killed, checking the stores after each."""
    op.prepare()
    timing = _Timing(op)
    clean = timing.clean_run()
    if clean.code != 0:
        tally.record(KIND, op.name, [f"a clean run failed (exit {clean.code}): {clean.err.strip()[-300:]}"])
        return
    op.completed()
    killed = rounds = 0
    while killed < kills and rounds < 3 * kills + 10:
        rounds += 1
        op.prepare()
        locks, written = lock_files(op.stores), resources(op.stores)
        result, at, mode = _kill_at_random(timing, rng)
        if result.code == 0:
            op.completed()
            tally.landed(KIND, op.name, "(runs that ended before their kill)")
            continue
        if result.code != -9:
            tally.record(KIND, op.name, [f"a run not killed failed (exit {result.code}): "
                                         f"{result.err.strip()[-300:]}"])
            continue
        killed += 1
        tally.landed(KIND, op.name, landing(written, resources(op.stores)))
        problems = op.verify()
        problems += _again(op, locks)
        tally.record(KIND, op.name, problems, what=f"killed {at:.2f}s in ({mode} mode, round {rounds})")
    problems = op.final()
    if problems:
        tally.record(KIND, op.name, problems, what="at the end")


_LOOKS: dict[str, Callable[[Operation], set[Any]]] = {
    "start": lambda op: set(),
    "lock": lambda op: lock_files(op.stores),
    "write": lambda op: bucket_times(op.stores),
}


class _Timing:
    """How long a run lasts from each of the moments a kill is timed from: its start, when it wrote its
    lock, when it first wrote a pack or state. Measured on a clean run, then learnt from every run that
    ended before its kill (runs vary with the data and with what else the machine does)."""

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.spans: dict[str, float] = {}

    def clean_run(self) -> Result:
        started = time.monotonic()
        proc = start(*self.op.argv)
        seen = {"start": started}
        for mode in ("lock", "write"):
            seen[mode] = _wait_for(proc, lambda m=mode: _LOOKS[m](self.op), 600.0)  # type: ignore[misc]
        proc.wait()
        ended = time.monotonic()
        self.spans = {mode: max(ended - t, 0.02) for mode, t in seen.items()}
        return finish(proc)

    def learn(self, mode: str, span: float) -> None:
        self.spans[mode] = max(0.5 * self.spans[mode] + 0.5 * span, 0.02)


def _wait_for(proc: subprocess.Popen[str], look: Callable[[], set[Any]], limit: float) -> float:
    """When what ``look`` sees first changed (or the run ended, or ``limit`` seconds went by)."""
    before = look()
    until = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < until and look() == before:
        time.sleep(0.004)
    return time.monotonic()


def _kill_at_random(timing: _Timing, rng: random.Random) -> tuple[Result, float, str]:
    """Run the operation and kill it at a random moment: anywhere, once it holds its lock, or once it
    writes. The last two are timed from what the run is seen doing, since its start-up varies more from
    run to run than its writing lasts. Returns the result, the moment of the kill since the start, and
    the mode; a run that ended before its kill teaches ``timing``."""
    op = timing.op
    started = time.monotonic()
    proc = start(*op.argv)
    mode = rng.choices(list(_LOOKS), weights=(1, 1, 2))[0]
    since = _wait_for(proc, lambda: _LOOKS[mode](op), 5 * timing.spans["start"]) if mode != "start" else started
    at = since + rng.uniform(0, 1.05 * timing.spans[mode])
    try:
        proc.wait(timeout=max(0.0, at - time.monotonic()))
    except subprocess.TimeoutExpired:
        kill_group(proc)
    result = finish(proc)
    if result.code == 0:
        timing.learn(mode, time.monotonic() - since)
    return result, at - started, mode


def _again(op: Operation, before: set[Path]) -> list[str]:
    try:
        op.again()
        return []
    except LockError as e:
        problem = f"the next run was refused: {e}"
    except KlosetError as e:
        return [f"the next run failed: {type(e).__name__}: {e}"]
    # The killed run's own lock is the only one left: remove it as an operator would, to go on.
    for p in lock_files(op.stores) - before:
        p.unlink()
    try:
        op.again()
    except KlosetError as e:
        return [problem, f"and failed again once the dead run's lock was gone: {type(e).__name__}: {e}"]
    return [problem]


class _Fixture:
    """A source tree and a store of small packs (so that a run writes many), with its ledger."""

    def __init__(self, root: Path, rng: random.Random, name: str = "store") -> None:
        self.root = root
        self.rng = rng
        self.source = Source(root / "src", rng, big=2, big_size=6 * MiB)
        self.path = root / name
        # Small packs: a backup writes many, so a kill lands between two puts as often as inside one.
        kloset.Store.create(str(self.path), plaintext=True, pack_max_size=1 << 20).close()
        self.ledger = Ledger()
        self.scratch = root / "scratch"
        self.scratch.mkdir()

    def backup(self) -> None:
        tree = self.source.manifest()
        with kloset.open(str(self.path)) as store:
            self.ledger.add(store.backup(str(self.source.root)), tree)

    def verify(self, pending: Manifest | None = None) -> list[str]:
        return self.ledger.verify(str(self.path), self.scratch, self.rng, pending=pending)

    def final(self) -> list[str]:
        return self.verify() + self.ledger.restore_all(str(self.path), self.scratch)


def backup(root: Path, rng: random.Random) -> Operation:
    """``kloset backup`` of a tree that changes before every run."""
    fx = _Fixture(root, rng)
    tree: dict[str, Manifest] = {}

    def prepare() -> None:
        fx.source.change()
        tree["now"] = fx.source.manifest()

    def completed() -> None:
        # The run's snapshot is the one the ledger lacks; it holds the tree as it was then.
        fx.ledger.take_in(str(fx.path), tree["now"])

    return Operation("backup", ["at", str(fx.path), "backup", "-q", str(fx.source.root)], [fx.path], prepare,
                     completed, verify=lambda: fx.verify(pending=tree["now"]), again=fx.backup, final=fx.final)


def maintenance(root: Path, rng: random.Random) -> Operation:
    """``kloset maintenance --grace 0`` after every round forgot a snapshot and backed up new data."""
    fx = _Fixture(root, rng)
    for _ in range(3):
        fx.backup()
        fx.source.change()

    def prepare() -> None:
        # New data, and an old snapshot forgotten: its data is garbage for maintenance to collect.
        fx.source.change()
        fx.backup()
        with kloset.open(str(fx.path)) as store:
            oldest = store.snapshots()[0]
            store.rm(oldest.id)
        fx.ledger.forget(oldest.header.timestamp_ns)

    def again() -> None:
        with kloset.open(str(fx.path)) as store:
            store.maintenance(grace=0)

    return Operation("maintenance", ["at", str(fx.path), "maintenance", "--grace", "0"], [fx.path], prepare,
                     completed=lambda: None, verify=fx.verify, again=again, final=fx.final)


def sync(root: Path, rng: random.Random) -> Operation:
    """``kloset at A sync to B`` after every round backed up new data into A."""
    a = _Fixture(root, rng, "a")
    b = root / "b"
    kloset.Store.create(str(b), plaintext=True, pack_max_size=1 << 20).close()
    copies = Ledger()

    def prepare() -> None:
        a.source.change()
        a.backup()

    def completed() -> None:
        copies.expected = dict(a.ledger.expected)

    def verify() -> list[str]:
        # A snapshot the killed run copied whole is as good as one it reported: it must be A's.
        return a.verify() + [f"the copy: {p}" for p in
                             copies.verify(str(b), a.scratch, rng, pending_from=a.ledger.expected)]

    def again() -> None:
        with kloset.open(str(a.path)) as store, kloset.open(str(b)) as other:
            store.sync(other, direction="to")
        completed()

    def final() -> list[str]:
        return a.final() + [f"the copy: {p}" for p in copies.verify(str(b), a.scratch, rng)
                            + copies.restore_all(str(b), a.scratch)]

    return Operation("sync", ["at", str(a.path), "sync", "-q", "to", str(b)], [a.path, b], prepare, completed,
                     verify, again, final)


OPERATIONS: dict[str, Callable[[Path, random.Random], Operation]] = {
    "backup": backup,
    "maintenance": maintenance,
    "sync": sync,
}
