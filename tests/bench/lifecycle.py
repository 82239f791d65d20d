#!/usr/bin/env python3
"""Store lifecycle benchmark: maintenance against `restic forget` + `restic prune`, and sync against
`restic copy`, on the `versions` corpus of the engine's benchmark (../shared/bench/bench.py), in one run.

    python tests/bench/lifecycle.py [--work DIR] [--json] [--threshold F]

Steps, for kloset and restic each, every step a process of its own, timed whole:
1. back up the standard libraries of Python 3.8 .. 3.13 one after another from one source folder (six
   snapshots, as in bench.py);
2. sync the whole store to a second, new fs store (`kloset sync to`, `restic copy`);
3. remove the first three snapshots and give their space back (`kloset rm` + `kloset maintenance
   --grace 0`; `restic forget` + `restic prune`).

Reclaimed space is measured against the bytes that only the removed snapshots used: for kloset, the sealed
sizes of the blobs their tables reference and no remaining snapshot's do (read through the Python API
before the removal); bar: >= 90% of those bytes come back. Times are ratios kloset / restic; bars: <= 1.0
for both maintenance and sync. The exit status is 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = Path(os.environ.get("PYENV_ROOT") or subprocess.run(
    ["pyenv", "root"], capture_output=True, text=True).stdout.strip()) / "versions"
VERSIONS = [PY / f"{v}/lib/python{v.rsplit('.', 1)[0]}" for v in
            ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")]
PASS = "correct horse battery staple 42"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    os.sync()  # no step pays for another's writeback
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall, p.stdout


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def backups(tool: str, repo: Path, src: Path, env: dict[str, str]) -> float:
    total = 0.0
    for v in VERSIONS:
        src.mkdir(parents=True, exist_ok=True)
        subprocess.run(["rsync", "-a", "--delete", "--exclude", "site-packages", f"{v}/", f"{src}/"], check=True)
        cmd = (["kloset", "at", str(repo), "backup", str(src)] if tool == "kloset"
               else ["restic", "-r", str(repo), "backup", "-q", str(src)])
        total += run(cmd, env)[0]
        time.sleep(0.01)  # distinct timestamps
    return total


def oldest(repo: Path, n: int) -> list[str]:
    import kloset

    with kloset.open(str(repo), passphrase=PASS) as store:
        return [s.id for s in store.snapshots()[:n]]  # oldest first


def only_removed_bytes(repo: Path, removed: int) -> int:
    """Sealed bytes of the blobs that the first ``removed`` snapshots use and no later one does."""
    import kloset
    from kloset.lifecycle.maintenance import in_use

    store = kloset.open(str(repo), passphrase=PASS)
    r = store._repo
    snaps = [bytes.fromhex(s.id) for s in store.snapshots()]
    analyses = r.index.analysis_ids()
    only = in_use(r, snaps, analyses) - in_use(r, snaps[removed:], analyses)
    lengths = {bid: n for bid, _, _, _, n in r.index.entries() if bid in only}
    store.close()
    return sum(lengths.values())


def places(work: Path, tool: str) -> tuple[Path, Path, Path]:
    """A tool's store, the store it syncs to, and its source folder, none left from an earlier run."""
    paths = work / tool, work / f"{tool}-copy", work / f"src-{tool}"
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
    return paths


def kloset_run(work: Path, env: dict[str, str], threshold: float | None) -> dict[str, float]:
    repo, copy, src = places(work, "kloset")
    run(["kloset", "at", str(repo), "create"], env)
    out: dict[str, float] = {"backup_s": backups("kloset", repo, src, env)}
    run(["kloset", "at", str(copy), "create"], env)
    out["sync_s"] = run(["kloset", "at", str(repo), "sync", "to", str(copy)], env)[0]
    out["copy_mb"] = du(copy) / 1e6
    before = du(repo)
    only = only_removed_bytes(repo, 3)
    snaps = oldest(repo, 3)
    rm_s = run(["kloset", "at", str(repo), "rm", *snaps], env)[0]
    cmd = ["kloset", "at", str(repo), "maintenance", "--grace", "0"]
    if threshold is not None:
        cmd += ["--threshold", str(threshold)]
    maint_s = run(cmd, env)[0]
    after = du(repo)
    out.update(forget_s=rm_s, maintenance_s=maint_s, lifecycle_s=rm_s + maint_s, before_mb=before / 1e6,
               after_mb=after / 1e6, only_removed_mb=only / 1e6, reclaimed_mb=(before - after) / 1e6,
               reclaimed_share=(before - after) / only if only else 0.0)
    run(["kloset", "at", str(repo), "check", "--fast"], env)
    return out


def restic_run(work: Path, env: dict[str, str]) -> dict[str, float]:
    repo, copy, src = places(work, "restic")
    run(["restic", "-r", str(repo), "init"], env)
    out: dict[str, float] = {"backup_s": backups("restic", repo, src, env)}
    run(["restic", "-r", str(copy), "init"], env)
    out["sync_s"] = run(["restic", "-r", str(copy), "copy", "--from-repo", str(repo),
                         "--from-password-command", f"echo {PASS}"], env)[0]
    out["copy_mb"] = du(copy) / 1e6
    before = du(repo)
    listing = json.loads(run(["restic", "-r", str(repo), "snapshots", "--json"], env)[1])
    ids = [s["id"] for s in sorted(listing, key=lambda s: s["time"])][:3]
    forget_s = run(["restic", "-r", str(repo), "forget", *ids], env)[0]
    prune_s = run(["restic", "-r", str(repo), "prune"], env)[0]
    after = du(repo)
    out.update(forget_s=forget_s, maintenance_s=prune_s, lifecycle_s=forget_s + prune_s, before_mb=before / 1e6,
               after_mb=after / 1e6, reclaimed_mb=(before - after) / 1e6)
    return out


def compile_kloset() -> None:
    """Write kloset's bytecode, as `pip install .` does: with an editable install and
    PYTHONDONTWRITEBYTECODE set (as on these machines), every command would compile kloset's sources
    anew, which an installed kloset never does."""
    import compileall
    import importlib

    for name in ("kloset", "kloset.connectors", "kloset.analyzers", "kloset.viewers"):
        module = importlib.import_module(name)
        compileall.compile_dir(str(Path(str(module.__file__)).parent), quiet=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--threshold", type=float, default=None, help="kloset's repacking threshold (default: its own)")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="kloset-bench-lifecycle-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ, KLOSET_PASSPHRASE=PASS, RESTIC_PASSWORD=PASS, KLOSET_AGENT="off",
               XDG_CACHE_HOME=str(work / "cache"))
    compile_kloset()
    k = kloset_run(work, env, a.threshold)
    r = restic_run(work, env)
    result = {"kloset": k, "restic": r, "ratios": {
        "maintenance (rm + maintenance / forget + prune)": k["lifecycle_s"] / r["lifecycle_s"],
        "sync / copy": k["sync_s"] / r["sync_s"]}}
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        for name, row in (("kloset", k), ("restic", r)):
            print(name, " ".join(f"{key}={value:.2f}" for key, value in row.items()))
        share = k["reclaimed_share"]
        print(f"kloset reclaimed {k['reclaimed_mb']:.1f} MB of {k['only_removed_mb']:.1f} MB only the removed "
              f"snapshots used: {share:.0%} (bar 90%: {'ok' if share >= 0.9 else 'not met'})")
        for name, ratio in result["ratios"].items():
            print(f"{name}: {ratio:.2f} (bar 1.0: {'ok' if ratio <= 1.0 else 'over the bar'})")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
