"""A store server that drops connections: moto's S3 server and asyncssh's SFTP server, each reached
through a DroppingProxy.

Each round backs up a changed tree and restores the newest snapshot through the proxy while it cuts
connections. The right outcome: each either succeeds (the engine retries what failed; a restore then
gives back the tree as backed up) or fails with a TransientError. A backup whose commit was stored
before its answer was cut may leave a snapshot although it failed: it must restore as the tree was.
Once the proxy lets everything through again, the store checks clean, holds every snapshot reported
complete, and the next backup succeeds. A round in which no connection was cut is not counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import re
import shutil
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.trees import MiB, manifest
from servers.s3 import moto_server
from servers.ssh_password import password_sftp
from servers.sshd import write_known_hosts

import kloset
from kloset.errors import KlosetError, TransientError

from .proxy import DroppingProxy
from .tally import Tally
from .workspace import Ledger, Source, workspace

KIND = "dropped connections"
#: The engine's retries, made quick: the suite meets many failures and waits for none of them long.
_FAST_RETRIES = {"retry_wait": "0.02", "retry_max_wait": "0.2"}


@contextlib.contextmanager
def s3_store(root: Path) -> Iterator[tuple[dict[str, str], int]]:
    """A connector config for a fresh bucket on a moto server, and the server's port."""
    with moto_server() as server:
        bucket = "f" + hashlib.sha256(str(root).encode()).hexdigest()[:20]
        yield server.config(bucket, "store"), server.port


@contextlib.contextmanager
def sftp_store(root: Path) -> Iterator[tuple[dict[str, str], int]]:
    with password_sftp() as server:
        yield server.config("store"), server.port


STORES = {"S3": s3_store, "SFTP": sftp_store}


def _through(config: dict[str, str], port: int, proxy: DroppingProxy, root: Path) -> dict[str, str]:
    """``config`` reaching its server through ``proxy``."""
    location = re.sub(rf":{port}(?=/)", f":{proxy.port}", config["location"], count=1)
    via = {**config, **_FAST_RETRIES, "location": location}
    if "known_hosts" in config:
        # The host key is the server's; only the address it is known by changes.
        line = Path(config["known_hosts"]).read_text().split(" ", 1)[1].strip()
        via["known_hosts"] = str(root / "known_hosts-proxy")
        write_known_hosts(via["known_hosts"], proxy.port, line)
    return via


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A server whose client vanished logs it at every send; so does paramiko for every reset."""
    loggers = [logging.getLogger(name) for name in ("asyncio", "paramiko", "asyncssh")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


#: Where a client's threads run: a thread of theirs that dies prints a traceback under any command.
_CLIENT_CODE = ("/paramiko/", "/botocore/", "/urllib3/", "/kloset/", "/connectors/")


@contextlib.contextmanager
def _client_thread_deaths() -> Iterator[list[str]]:
    """The threads of the client side that die of an exception meanwhile, one line each."""
    deaths: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        files = [f.filename for f in traceback.extract_tb(args.exc_traceback)]
        if any(part in f for f in files for part in _CLIENT_CODE):
            name = args.thread.name if args.thread is not None else "a thread"
            deaths.append(f"{args.exc_type.__name__} in {name} ({files[-1].rsplit('/', 2)[-2]})")
        else:
            previous(args)

    # As in a kloset process, where the sftp connector's hook sits in front of Python's (the test runner
    # puts hooks of its own in place of that one): what it keeps quiet prints nothing there either.
    from kloset.connectors.sftp.session import _quiet_prefetch_deaths

    threading.excepthook = _quiet_prefetch_deaths(hook)
    try:
        yield deaths
    finally:
        threading.excepthook = previous


def inject(tally: Tally, count: int, rng: random.Random, only: set[str] | None = None) -> None:
    """Rounds through each server until ``count`` of them met a cut connection."""
    for target, make in STORES.items():
        if only and target not in only:
            continue
        with (_quiet(), workspace(f"net-{target}") as root, make(root) as (direct, port),
              DroppingProxy(port, rng) as proxy, _client_thread_deaths() as deaths):
            _rounds(tally, target, count, rng, root, direct, _through(direct, port, proxy, root), proxy, deaths)


def _rounds(tally: Tally, target: str, count: int, rng: random.Random, root: Path, direct: dict[str, str],
            via: dict[str, str], proxy: DroppingProxy, deaths: list[str]) -> None:
    source = Source(root / "src", rng, dirs=3, per_dir=30, big=1, big_size=MiB)
    ledger = Ledger()
    with kloset.Store.create(direct, plaintext=True, pack_max_size=256 << 10) as store:
        ledger.add(store.backup(str(source.root)), source.manifest())
    met = rounds = 0
    while met < count and rounds < 4 * count:
        rounds += 1
        source.change()
        tree = source.manifest()
        # Light rounds, that retries ride out, and heavy ones, that outlast them.
        proxy.mean_bytes = rng.choice((4 * MiB, 384 << 10))
        proxy.dropping, cuts, died = True, proxy.cuts, len(deaths)
        problems: list[str] = []
        outcomes = [_backup(via, source.root, tree, ledger, problems), _restore(via, ledger, root, problems)]
        proxy.dropping = False
        if len(deaths) > died:
            problems.append(f"a thread of the client died with a traceback: {', '.join(deaths[died:])}")
        if proxy.cuts == cuts:
            continue  # nothing was cut: no fault met
        met += 1
        weight = "light" if proxy.mean_bytes > MiB else "heavy"
        tally.landed(KIND, target, f"{weight}: backup {outcomes[0]}, restore {outcomes[1]}")
        # The fault is over: the store is whole, and takes the next backup.
        # A backup that failed once its commit was stored (the answer was cut) has a snapshot all the
        # same: it is taken in, and must restore as the tree was.
        problems += ledger.verify(direct, root, rng, pending=tree)
        try:
            with kloset.open(via) as store:
                ledger.add(store.backup(str(source.root)), tree)
        except KlosetError as e:
            problems.append(f"the next backup: {type(e).__name__}: {e}")
        tally.record(KIND, target, problems, what=f"round {rounds}, {proxy.cuts - cuts} connections cut")


def _judge(e: BaseException, what: str, problems: list[str]) -> str:
    if isinstance(e, TransientError):
        return "failed (TransientError)"
    problems.append(f"{what}: {type(e).__name__}, not a TransientError: {e}")
    return f"failed ({type(e).__name__})"


def _backup(via: dict[str, str], src: Path, tree: Any, ledger: Ledger, problems: list[str]) -> str:
    try:
        with kloset.open(via) as store:
            snap = store.backup(str(src))
        ledger.add(snap, tree)
        return "succeeded"
    except Exception as e:  # anything but a TransientError is wrong, and says so
        return _judge(e, "backup", problems)


def _restore(via: dict[str, str], ledger: Ledger, root: Path, problems: list[str]) -> str:
    t, want = max(ledger.expected.items())
    out = root / "restored"
    shutil.rmtree(out, ignore_errors=True)
    try:
        with kloset.open(via) as store:
            (snap,) = [s for s in store.snapshots() if s.header.timestamp_ns == t]
            report = snap.restore(out)
    except Exception as e:
        return _judge(e, "restore", problems)
    try:
        failed = {p.removeprefix(snap.root).lstrip("/") for p, _ in report.errors}
        got = manifest(out)
        wrong = [k for k, e in want.items() if k.decode() not in failed and got.get(k) != e]
        if wrong:
            problems.append(f"restore: {len(wrong)} files neither restored right nor reported, first {wrong[0]!r}")
        if not report.errors:
            return "succeeded" if not wrong else "WRONG"
        if report.transient < len(report.errors):
            # The command line says IntegrityError (damaged data) unless every failure was the store's reach.
            problems.append(f"restore: {len(report.errors) - report.transient} of its {len(report.errors)} file "
                            f"errors are not transient, first {report.errors[0]}")
        return f"failed (transient, {len(report.errors)} files)"
    finally:
        shutil.rmtree(out, ignore_errors=True)

