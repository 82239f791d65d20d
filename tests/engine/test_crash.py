"""Crash safety: a backup killed with SIGKILL at any moment leaves a store that opens, checks clean,
still holds every earlier snapshot intact, and takes the next backup."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import kloset

from .trees import MiB, assert_same_tree, build_many_files, manifest

_BACKUP = textwrap.dedent("""
    import os, sys
    import kloset
    snap = kloset.open(sys.argv[1]).backup(sys.argv[2], parent=sys.argv[3] == "parent")
    print(snap.id, flush=True)
    os._exit(0)  # no interpreter teardown: pyarrow's pool may abort it (apache/arrow#34314)
""")

ROUNDS = 10


@pytest.mark.slow
def test_a_backup_killed_at_random_moments_never_damages_the_store(tmp_path: Path) -> None:
    rng = random.Random(20261129)
    src = tmp_path / "src"
    small = build_many_files(src, dirs=20, per_dir=100)
    for i in range(3):
        (src / f"big{i}.bin").write_bytes(rng.randbytes(4 * MiB))
    store_path = tmp_path / "store"
    # small packs: a backup writes many of them, so a kill lands between puts as well as inside one
    store = kloset.Store.create(str(store_path), plaintext=True, pack_max_size=2 * MiB)
    first = store.backup(str(src))
    store.close()
    known = [first.id]
    expected = {first.id: manifest(src)}
    killed = 0

    def change_tree(tag: str) -> None:
        for p in rng.sample(small, 20):
            p.write_text(rng.randbytes(64).hex())
        (src / f"new-{tag}.bin").write_bytes(rng.randbytes(2 * MiB))

    def start(mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", _BACKUP, str(store_path), str(src), mode],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # How long a whole backup process takes here, for each mode: kills are spread over that time.
    duration = {}
    for mode in ("parent", "no-parent"):
        change_tree(mode)
        t0 = time.monotonic()
        proc = start(mode)
        out, err = proc.communicate(timeout=120)
        duration[mode] = time.monotonic() - t0
        assert proc.returncode == 0, err
        known.append(out.strip())

    for round_ in range(ROUNDS):
        change_tree(str(round_))
        mode = "parent" if round_ % 2 else "no-parent"
        delay = duration[mode] * (0.3 + 0.7 * (round_ + rng.random()) / ROUNDS)
        proc = start(mode)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            known.append(out.strip())
        else:
            assert proc.returncode == -signal.SIGKILL, err

        s = kloset.open(str(store_path))
        listed = [x.id for x in s.snapshots()]
        assert listed[: len(known)] == known, f"round {round_}: an earlier snapshot is gone"
        assert len(listed) - len(known) <= 1
        known = listed  # a backup killed after its commit has a complete snapshot: keep it
        report = s.check(read_data=True)
        assert report.ok, f"round {round_} (killed after {delay:.2f}s): {report}"
        snap = s.backup(str(src))
        known.append(snap.id)
        expected[snap.id] = manifest(src)
        s.close()

    assert killed >= ROUNDS // 2, "too few backups were still running when killed"
    s = kloset.open(str(store_path))
    assert [x.id for x in s.snapshots()] == known
    assert s.check(read_data=True).ok
    ids = list(expected)
    for sid in (ids[0], ids[len(ids) // 2], ids[-1]):
        out_dir = tmp_path / f"restore-{sid[:8]}"
        s.snapshot(sid).restore(out_dir)
        assert manifest(out_dir) == expected[sid]
    assert_same_tree(src, out_dir)
