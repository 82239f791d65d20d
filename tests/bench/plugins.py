#!/usr/bin/env python3
"""Plugin boundary benchmark: the fs importer and the fs store, each in-process and as a plugin, backing
up the same corpus in one run.

    python tests/bench/plugins.py [--corpus DIR] [--rounds N] [--work DIR] [--json]

The corpus defaults to this Python's library tree with its site-packages (``site`` in the engine's
benchmark). Each backup goes into a fresh encrypted store through the command line, as a user would;
the plugin runs come from packages made with ``kloset pkg create`` and installed with ``kloset pkg add``
into a plugins folder of the run's own, serving the ``fs`` scheme in place of the built-in connector:
one package with the fs importer, one with the fs store (both through kloset.sdk). Every step is a
process of its own, timed whole; the rounds alternate in-process and plugin runs and the median is
kept. Ratios are plugin / in-process. Bar: ≤ 1.3 for both. The exit status is 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PASS = "correct horse battery staple 42"
MAINS = {
    "importer": "from kloset.sdk import run_importer\nfrom kloset.connectors.fs.importer import FSImporter\n\n"
                "run_importer(FSImporter)\n",
    "storage": "from kloset.sdk import run_storage\nfrom kloset.connectors.fs.store import FSStore\n\n"
               "run_storage(FSStore)\n",
}


def run(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> float:
    os.sync()  # what earlier steps wrote is on disk: no step pays for another's writeback
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall


def package(kind: str, work: Path, env: dict[str, str]) -> Path:
    """A plugins folder holding one installed package that serves ``fs`` with the fs connector of ``kind``."""
    folder = work / f"fs{kind}"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(MAINS[kind])
    (folder / "manifest.yaml").write_text(
        f"name: fs{kind}\nversion: 1.0.0\napi_version: v1.1.0\nconnectors:\n"
        f"  - type: {kind}\n    protocols: [fs]\n    executable: main.py\n    location_flags: [localfs]\n")
    plugins = work / f"plugins-{kind}"
    env = {**env, "KLOSET_PLUGINS_DIR": str(plugins)}
    run(["kloset", "pkg", "create", str(folder / "manifest.yaml"), "-o", str(work)], env)
    run(["kloset", "pkg", "add", str(work / f"fs{kind}-v1.0.0.ptar")], env)
    return plugins


def backup(corpus: Path, store: Path, env: dict[str, str]) -> float:
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    run(["kloset", "at", str(store), "create"], env)
    return run(["kloset", "at", str(store), "backup", str(corpus)], env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="kloset-bench-plugins-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    none = work / "no-plugins"
    none.mkdir()
    env = dict(os.environ, KLOSET_PASSPHRASE=PASS, KLOSET_AGENT="off", KLOSET_PLUGINS_DIR=str(none))
    plugins = {kind: package(kind, work, env) for kind in MAINS}
    times: dict[str, list[float]] = {"in-process": [], "importer": [], "storage": []}
    for _ in range(a.rounds):
        times["in-process"].append(backup(a.corpus, work / "store", env))
        for kind, folder in plugins.items():
            times[kind].append(backup(a.corpus, work / "store", {**env, "KLOSET_PLUGINS_DIR": str(folder)}))
    shutil.rmtree(work / "store", ignore_errors=True)
    base = statistics.median(times["in-process"])
    result = {
        "corpus": str(a.corpus),
        "files": sum(len(f) for _, _, f in os.walk(a.corpus)),
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "ratios": {kind: round(statistics.median(times[kind]) / base, 2) for kind in MAINS},
    }
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"corpus {result['corpus']} ({result['files']} files), {a.rounds} rounds, median seconds:")
        print(f"  in-process            {base:7.2f}")
        for kind in MAINS:
            med = statistics.median(times[kind])
            verdict = "ok" if med / base <= 1.3 else "over the bar"
            print(f"  fs {kind:8} plugin    {med:7.2f}   ratio {med / base:.2f} (bar 1.3: {verdict})")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
