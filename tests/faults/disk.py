"""A full disk: a small tmpfs (or, where mounting one is refused, a loop-mounted ext4 image) holding
the store, or this machine's cache of it, filled up to a random number of bytes short of what the next
backup needs, so that the disk runs out at a different write each time.

The right outcome: the backup fails with a typed error and a clear message (no traceback) and makes no
snapshot, or, when only the cache is full, it may also succeed; the store opens and checks clean; once
space is freed the next backup succeeds and restores identical.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from engine.trees import MiB

import kloset
from kloset.errors import KlosetError

from .tally import Tally
from .workspace import Ledger, Source, cli, workspace

KIND = "full disk"
DISK_SIZE = 16 * MiB


@contextlib.contextmanager
def small_disk(where: Path, size: int) -> Iterator[str]:
    """A filesystem of ``size`` bytes mounted at ``where``; yields how it was made."""
    where.mkdir(parents=True, exist_ok=True)
    tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                           capture_output=True, text=True)
    if tmpfs.returncode == 0:
        how = "tmpfs"
    else:
        image = where.parent / f"{where.name}.img"
        with open(image, "wb") as f:
            f.truncate(size)
        steps = [["mkfs.ext4", "-q", "-F", str(image)], ["mount", "-o", "loop", str(image), str(where)]]
        for step in steps:
            made = subprocess.run(step, capture_output=True, text=True)
            if made.returncode != 0:
                raise OSError(f"cannot mount a small filesystem: tmpfs: {tmpfs.stderr.strip()}; "
                              f"{step[0]}: {made.stderr.strip()}")
        how = "loop-mounted ext4"
    try:
        yield how
    finally:
        subprocess.run(["umount", str(where)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Write a file on ``disk`` until it is full, then shorten it to leave ``leave`` bytes free."""
    filler = disk / "filler"
    block = b"\0" * MiB
    with open(filler, "wb") as f:
        while True:
            try:
                f.write(block)
                f.flush()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def _clear(disk: Path) -> None:
    for p in disk.iterdir():
        if p.is_dir() and p.name != "lost+found":
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()


def inject(tally: Tally, count: int, rng: random.Random) -> None:
    """``count`` full disks under the store, and ``count`` under the local cache."""
    with workspace("disk") as root:
        try:
            with small_disk(root / "disk", DISK_SIZE) as how:
                for target in ("store", "local cache"):
                    for _ in range(count):
                        _clear(root / "disk")
                        problems, what, outcome = _one(root, rng, target)
                        tally.landed(KIND, target, f"{outcome} ({how})")
                        tally.record(KIND, target, problems, what)
        except OSError as e:
            for target in ("store", "local cache"):
                tally.skip(KIND, target, str(e))


def _one(root: Path, rng: random.Random, target: str) -> tuple[list[str], str, str]:
    disk = root / "disk"
    on_disk = target == "store"
    store = disk / "store" if on_disk else root / "store"
    cache = root / "cache" if on_disk else disk / "cache"
    shutil.rmtree(root / "store", ignore_errors=True)
    shutil.rmtree(root / "src", ignore_errors=True)
    shutil.rmtree(root / "cache", ignore_errors=True)
    env_cache = os.environ["XDG_CACHE_HOME"]
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        source = Source(root / "src", rng, dirs=4, per_dir=40, big=1, big_size=MiB)
        ledger = Ledger()
        with kloset.Store.create(str(store), plaintext=True, pack_max_size=512 << 10) as s:
            ledger.add(s.backup(str(source.root)), source.manifest())
        source.change()  # a new file of a MiB, and changed small files
        # Short of the new MiB of content in the store; of the few table pieces and index in the cache.
        leave = rng.randrange(int(0.9 * MiB) if on_disk else 256 << 10)
        filler = fill(disk, leave)
        what = f"{leave} bytes left free"
        result = cli("at", str(store), "backup", "-q", str(source.root))
        problems: list[str] = []
        outcome = "the backup fitted" if result.code == 0 else f"the backup failed, exit {result.code}"
        if result.code == 0:
            if on_disk:
                problems.append("the backup fitted on a disk too small for it")
            ledger.expected.update({t: source.manifest() for t in _new(store, ledger)})
        else:
            problems += result.typed_failure()
            if "No space left" not in result.err:
                problems.append(f"the message does not say the disk is full: {result.err.strip()[-200:]!r}")
            if _new(store, ledger):
                problems.append("a failed backup left a snapshot")
        problems += ledger.verify(str(store), root, rng)
        filler.unlink()
        try:
            with kloset.open(str(store)) as s:
                ledger.add(s.backup(str(source.root)), source.manifest())
        except KlosetError as e:
            problems.append(f"the next backup, with room: {type(e).__name__}: {e}")
        problems += ledger.verify(str(store), root, rng)
        return problems, what, outcome
    finally:
        os.environ["XDG_CACHE_HOME"] = env_cache


def _new(store: Path, ledger: Ledger) -> list[int]:
    with kloset.open(str(store)) as s:
        return [x.header.timestamp_ns for x in s.snapshots() if x.header.timestamp_ns not in ledger.expected]
