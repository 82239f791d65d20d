"""Bit flips and truncations in what a store holds (data and metadata packs, states, the config, a
lock) and in what the machine keeps of it (the local index cache, the cached table pieces).

The right outcome depends on what was hit:

- a pack or a state: the store opens and ``check`` exits 10 naming the damaged pack or state, and the
  files it names for each snapshot are exactly those a restore cannot give back; every other file
  restores identical (never a wrong read), so does every undamaged snapshot; or the store refuses to
  open with a typed error;
- the config: the store refuses to open with an IntegrityError (exit 5), a clear message, no traceback;
- a lock: it cannot hold the store: check is clean, a backup and maintenance (exclusive) both run;
- a local cache: it is rebuilt without a word, check is clean and everything restores identical.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

from engine.trees import MiB, flip_byte, manifest, states

import kloset
from kloset.errors import KlosetError
from kloset.repository.locks import Lock

from .tally import Tally
from .workspace import Manifest, Source, cli, workspace

KIND_FLIP = "bit flip"
KIND_CUT = "truncation"
TARGETS = ("data pack", "metadata pack", "state", "config", "lock", "index cache", "table cache")


class _Baseline:
    """A store of three snapshots of a changing tree, and the machine's cache of it, kept pristine: each
    injection damages a fresh copy of both."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.source = Source(root / "src", rng, dirs=4, per_dir=40, big=2, big_size=MiB // 2)
        self.pristine = root / "pristine"
        self.store = root / "store"
        self.cache = root / "cache"
        self.expected: dict[int, Manifest] = {}
        # Small packs: several of each kind, so that damage to one leaves others whole.
        with kloset.Store.create(str(self.pristine), plaintext=True, pack_max_size=256 << 10) as store:
            for _ in range(3):
                self.source.change()
                snap = store.backup(str(self.source.root))
                self.expected[snap.header.timestamp_ns] = self.source.manifest()
            info = store.packfiles()
            self.store_id = store.id
        self.data_packs = [p["pack_id"] for p in info if p["data_blobs"]]
        self.meta_packs = [p["pack_id"] for p in info if not p["data_blobs"]]
        shutil.copytree(self.cache, root / "pristine-cache")

    def fresh(self) -> None:
        for copy, original in ((self.store, self.pristine), (self.cache, self.root / "pristine-cache")):
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(original, copy)

    def pack(self, pack_id: str) -> Path:
        return self.store / "packfiles" / pack_id[:2] / pack_id

    @property
    def cached(self) -> Path:
        return self.cache / "kloset" / self.store_id


def _flip(path: Path, rng: random.Random) -> str:
    size = path.stat().st_size
    offset = rng.randrange(size)
    flip_byte(path, offset, 1 << rng.randrange(8))
    return f"{path.name[:12]} byte {offset} of {size}"


def _cut(path: Path, rng: random.Random) -> str:
    size = path.stat().st_size
    keep = rng.randrange(size)
    with open(path, "r+b") as f:
        f.truncate(keep)
    return f"{path.name[:12]} cut to {keep} of {size}"


def _write_lock(base: _Baseline, rng: random.Random) -> Path:
    """A live lock, exclusive or not, as a process holding the store would have written."""
    with kloset.open(str(base.store)) as store:
        lock_id = Lock(store.storage, store._repo.keyring, exclusive=rng.random() < 0.5)._write()
    return base.store / "locks" / lock_id.hex()


def _victim(base: _Baseline, target: str, rng: random.Random) -> Path:
    if target == "data pack":
        return base.pack(rng.choice(base.data_packs))
    if target == "metadata pack":
        return base.pack(rng.choice(base.meta_packs))
    if target == "state":
        return rng.choice(states(base.store))
    if target == "config":
        return base.store / "CONFIG"
    if target == "lock":
        return _write_lock(base, rng)
    if target == "index cache":
        return base.cached / "index"
    return rng.choice([p for p in (base.cached / "rows").rglob("*") if p.is_file()])


def inject(tally: Tally, count: int, rng: random.Random, only: set[str] | None = None) -> None:
    """``count`` flips and ``count`` truncations of each target."""
    with workspace("damage") as root:
        base = _Baseline(root, rng)
        for target in TARGETS:
            if only and target not in only:
                continue
            for kind, damage in ((KIND_FLIP, _flip), (KIND_CUT, _cut)):
                for _ in range(count):
                    base.fresh()
                    victim = _victim(base, target, rng)
                    what = damage(victim, rng)
                    # Half the time as on another machine: no local cache to fall back on.
                    if target not in ("index cache", "table cache") and rng.random() < 0.5:
                        shutil.rmtree(base.cache)
                        what += ", no local cache"
                    outcome, problems = JUDGES[target](base, victim)
                    tally.landed(kind, target, outcome)
                    tally.record(kind, target, problems, what)


Judgement = tuple[str, list[str]]  # what happened, in a few words; why it is wrong ([] if right)


def _judge_config(base: _Baseline, victim: Path) -> Judgement:
    result = cli("at", str(base.store), "ls")
    problems = result.typed_failure()
    if result.code != 5:
        problems.append(f"exit {result.code}, not 5 (IntegrityError)")
    return f"refused to open (exit {result.code})", problems


def _judge_harmless(base: _Baseline, victim: Path) -> Judgement:
    """Damage the store does not need: nothing to see, everything works."""
    result = cli("at", str(base.store), "check")
    problems = [] if result.code == 0 else [f"check exit {result.code}: {result.err.strip()[-300:]}"]
    if result.code == 0 and result.err.strip():
        problems.append(f"check complains: {result.err.strip()[-300:]}")
    problems += _restores(base, {})
    try:
        with kloset.open(str(base.store)) as store:
            store.backup(str(base.source.root))
            store.maintenance(grace=0)
    except KlosetError as e:
        problems.append(f"then: {type(e).__name__}: {e}")
    return f"check exit {result.code}", problems


def _judge_stored(base: _Baseline, victim: Path) -> Judgement:
    """Damage to a pack or a state: reported by check, and by name; no wrong read."""
    result = cli("at", str(base.store), "check")
    outcome = f"check exit {result.code}"
    if result.code != 10:
        problems = result.typed_failure()
        return outcome, problems + ([] if result.code == 5 else [f"check exit {result.code}, not 10 (or 5 at open)"])
    problems = []
    if victim.name not in result.out:
        problems.append("check does not name the damaged resource")
    try:
        with kloset.open(str(base.store)) as store:
            report = store.check(read_data=True)
    except KlosetError as e:
        return outcome, [*problems, f"check through the API: {type(e).__name__}: {e}"]
    if report.ok:
        problems.append("the API's check finds nothing")
    if report.damaged_files:
        outcome += ", files named"
    hurt = {short: {_relative(base, p) for p in paths} for short, paths in report.damaged_files.items()}
    # A damaged state may hide whole snapshots: the index no longer knows their headers.
    return outcome, problems + _restores(base, hurt, set(report.damaged_snapshots),
                                         gone_ok=bool(report.damaged_states))


def _relative(base: _Baseline, path: str) -> str:
    return path.removeprefix(str(base.source.root)).lstrip("/")


def _restores(base: _Baseline, hurt: dict[str, set[str]], broken: frozenset[str] | set[str] = frozenset(),
              gone_ok: bool = False) -> list[str]:
    """Every snapshot restores as backed up, except the files ``hurt`` names (which must fail, not come
    back wrong) and the snapshots ``broken`` names (which may fail as a whole, with a typed error); with
    ``gone_ok`` a snapshot may be missing altogether."""
    problems: list[str] = []
    out = base.root / "restored"
    try:
        with kloset.open(str(base.store)) as store:
            listed = {s.header.timestamp_ns: s for s in store.snapshots()}
            for t, want in base.expected.items():
                snap = listed.get(t)
                if snap is None:
                    if not (broken or gone_ok):
                        problems.append("a snapshot is gone and check does not say which")
                    continue
                shutil.rmtree(out, ignore_errors=True)
                try:
                    report = snap.restore(out)
                except KlosetError as e:
                    if snap.short_id not in broken:
                        problems.append(f"restore of {snap.short_id}: {type(e).__name__}: {e}")
                    continue
                failed = {_relative(base, p) for p, _ in report.errors}
                expected_hurt = hurt.get(snap.short_id, set())
                if failed != expected_hurt:
                    problems.append(f"snapshot {snap.short_id}: check names {len(expected_hurt)} damaged files, "
                                    f"restore fails {len(failed)}")
                got = manifest(out)
                wrong = [k for k, e in want.items() if k.decode() not in failed and got.get(k) != e]
                if wrong:
                    problems.append(f"snapshot {snap.short_id}: {len(wrong)} files neither restored right nor "
                                    f"reported, first {wrong[0]!r}")
    except KlosetError as e:
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return problems


JUDGES: dict[str, Callable[[_Baseline, Path], Judgement]] = {
    "data pack": _judge_stored,
    "metadata pack": _judge_stored,
    "state": _judge_stored,
    "config": _judge_config,
    "lock": _judge_harmless,
    "index cache": _judge_harmless,
    "table cache": _judge_harmless,
}
