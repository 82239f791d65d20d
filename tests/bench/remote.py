#!/usr/bin/env python3
"""Remote stores benchmark: kloset against restic, backing up into S3 (moto's server) and SFTP (OpenSSH's
sshd), both on 127.0.0.1, then restoring, in one run.

    python tests/bench/remote.py [--corpus DIR] [--targets s3,sftp] [--work DIR] [--json]

The corpus defaults to this Python's library tree with its site-packages (``site`` in the engine's
benchmark). Each tool backs up into a fresh encrypted repository on a fresh server, then restores the
snapshot into an empty folder, which is checked file by file against the corpus. Every step runs as a
process of its own and is timed whole (wall seconds; peak RSS from /usr/bin/time when present). kloset
is driven through its command line with a named store (``kloset store add``), as a user would; restic
with ``-r s3:http://...`` and ``-r sftp:...`` and its defaults. Ratios are kloset / restic: below 1.0,
kloset is faster. Bar: backup and restore ≤ 1.0 on both targets. The exit status is 0 whatever the
verdicts.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for the servers

from servers.s3 import moto_server
from servers.sshd import sshd

PASS = "correct horse battery staple 42"


def run(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> float:
    """Run one command; its wall seconds. A failure stops the benchmark with the command's stderr."""
    timer = shutil.which("time")
    stats = os.path.join(tempfile.gettempdir(), "kloset-remote.time")
    os.sync()  # what earlier steps wrote is on disk: no step pays for another's writeback
    t0 = time.perf_counter()
    p = subprocess.run(([timer, "-f", "%M", "-o", stats] if timer else []) + cmd, cwd=cwd, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall


def identical(src: Path, dst: Path) -> bool:
    """Every regular file of ``src`` is in ``dst`` with the same bytes (shallow=False)."""
    for root, _, files in os.walk(src):
        for name in files:
            a = Path(root) / name
            if a.is_symlink() or not a.is_file():
                continue
            b = dst / a.relative_to(src)
            if not b.is_file() or not filecmp.cmp(a, b, shallow=False):
                print(f"  differs: {a}", file=sys.stderr)
                return False
    return True


def restored_root(out: Path, corpus: Path) -> Path:
    """Where a tool put the corpus inside its restore folder (restic keeps the absolute path)."""
    nested = out / str(corpus).lstrip("/")
    return nested if nested.is_dir() else out


@contextlib.contextmanager
def target(kind: str, work: Path, tool: str) -> Iterator[tuple[dict[str, str], list[str], dict[str, str]]]:
    """A fresh server for one tool: (kloset connector config, restic's repository arguments, restic's
    environment)."""
    if kind == "s3":
        with moto_server() as server:
            config = server.config("bench")
            yield config, ["-r", f"s3:{server.url}/bench"], {
                "AWS_ACCESS_KEY_ID": config["access_key"], "AWS_SECRET_ACCESS_KEY": config["secret_access_key"]}
    else:
        root = work / f"sftp-{tool}"
        root.mkdir(parents=True)
        with sshd(str(root)) as server:
            yield server.config("repo"), server.restic_sftp_args("repo"), {}


def bench(kind: str, corpus: Path, work: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for tool in ("kloset", "restic"):
        env = dict(os.environ, KLOSET_PASSPHRASE=PASS, RESTIC_PASSWORD=PASS, KLOSET_CONFIG_DIR=str(work / "config"),
                   XDG_CACHE_HOME=str(work / f"cache-{tool}-{kind}"), KLOSET_AGENT="off")
        out = work / f"out-{tool}-{kind}"
        with target(kind, work, tool) as (config, restic_repo, restic_env):
            env.update(restic_env)
            if tool == "kloset":
                keys = [f"{k}={v}" for k, v in config.items() if k != "location"]
                name = f"bench-{kind}"
                subprocess.run(["kloset", "store", "rm", name], env=env, capture_output=True)
                run(["kloset", "store", "add", name, config["location"], *keys], env)
                steps = {"create": ["kloset", "at", f"@{name}", "create"],
                         "backup": ["kloset", "at", f"@{name}", "backup", str(corpus)],
                         "restore": ["kloset", "at", f"@{name}", "restore", "--to", str(out), "latest"]}
            else:
                steps = {"create": ["restic", *restic_repo, "init"],
                         "backup": ["restic", *restic_repo, "backup", "-q", str(corpus)],
                         "restore": ["restic", *restic_repo, "restore", "latest", "--target", str(out)]}
            times = {step: run(cmd, env) for step, cmd in steps.items()}
        if not identical(corpus, restored_root(out, corpus)):
            raise RuntimeError(f"{tool} restored a tree that differs from the corpus ({kind})")
        shutil.rmtree(out, ignore_errors=True)
        results[tool] = times
        print(f"{kind:5} {tool:7} " + "  ".join(f"{k} {v:6.2f} s" for k, v in times.items()), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    ap.add_argument("--targets", default="s3,sftp")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="kloset-remote-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    files = sum(len(f) for _, _, f in os.walk(args.corpus))
    size = sum(p.stat().st_size for p in args.corpus.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"corpus: {args.corpus} ({files} files, {size / 1e6:.0f} MB)", flush=True)
    report: dict[str, Any] = {"corpus": str(args.corpus), "files": files, "bytes": size, "targets": {}}
    print("\n| target | step | kloset | restic | kloset/restic | bar |\n|---|---|---|---|---|---|")
    verdicts = []
    for kind in args.targets.split(","):
        r = bench(kind, args.corpus, work)
        report["targets"][kind] = r
        for step in ("create", "backup", "restore"):
            k, p = r["kloset"][step], r["restic"][step]
            bar = "≤ 1.0" if step != "create" else ""
            print(f"| {kind} | {step} | {k:.2f} s | {p:.2f} s | {k / p:.2f} | {bar} |")
            if bar:
                verdicts.append((f"{kind} {step}", k / p))
    print()
    for label, ratio in verdicts:
        print(f"{'PASS' if ratio <= 1.0 else 'FAIL'} {label}: {ratio:.2f} × restic")
    if args.json:
        print(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
