"""Progress of long operations: what the callback is told, the bar a person sees, and interrupts."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import kloset
from kloset.objects import ResourceType
from kloset.progress import bar, human_bytes


def _source(root: Path, files: int = 40, size: int = 20_000) -> Path:
    for i in range(files):
        d = root / f"d{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:03}").write_bytes(os.urandom(size))
    return root


class Calls:
    def __init__(self, stop_after: int | None = None) -> None:
        self.seen: list[tuple[int, int]] = []
        self.stop_after = stop_after

    def __call__(self, items: int, nbytes: int) -> None:
        self.seen.append((items, nbytes))
        if self.stop_after is not None and len(self.seen) == self.stop_after:
            # What Ctrl-C in a terminal or Jupyter's interrupt does: SIGINT, which the main thread gets as
            # KeyboardInterrupt wherever it is, whichever thread reported the progress.
            os.kill(os.getpid(), signal.SIGINT)

    def monotonic(self) -> bool:
        pairs = list(zip(self.seen, self.seen[1:], strict=False))
        return all(a[0] <= b[0] and a[1] <= b[1] for a, b in pairs)


def test_every_long_operation_reports_items_and_bytes_up_to_its_totals(store: kloset.Store, tmp_path: Path) -> None:
    src = _source(tmp_path / "src")
    calls = Calls()
    snap = store.backup(str(src), progress=calls)
    assert calls.monotonic() and calls.seen[-1] == (snap.summary.entries, snap.summary.size)

    calls = Calls()
    report = snap.restore(tmp_path / "out", progress=calls)
    assert calls.monotonic() and calls.seen[-1] == (report.files + report.dirs, snap.summary.size)

    calls = Calls()
    check = store.check(progress=calls)
    assert calls.monotonic() and calls.seen[-1][0] == check.packs
    packs = store.storage.list(ResourceType.PACKFILE)
    assert calls.seen[-1][1] == sum(len(store.storage.get(ResourceType.PACKFILE, p)) for p in packs)


def test_the_bar_shows_bytes_files_rate_and_an_eta_from_the_previous_snapshot(
        store: kloset.Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _source(tmp_path / "src")
    first = store.backup(str(src), progress=True)
    text = capsys.readouterr().err
    assert "backup" in text and "files" in text and "B/s" in text
    (src / "d0" / "f000").write_bytes(os.urandom(20_000))  # changed, same size: the estimate holds
    store.backup(str(src), progress=True)
    text = capsys.readouterr().err
    # The second backup knows roughly how much there is: a total, so a percentage and an ETA.
    assert f"/{first.summary.entries:,} files" in text and "%" in text and "<" in text
    first.restore(tmp_path / "out", progress=True)
    assert f"/{first.summary.files + first.summary.dirs:,} files" in capsys.readouterr().err


def test_progress_can_be_turned_off(store: kloset.Store, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src = _source(tmp_path / "src", files=4)
    store.backup(str(src), progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("KLOSET_PROGRESS", "0")
    store.backup(str(src), progress=True)
    assert capsys.readouterr().err == ""


def test_a_bar_drops_an_estimate_the_counts_pass(capsys: pytest.CaptureFixture[str]) -> None:
    with bar(True, "work", total_items=2, total_bytes=10) as fn:
        assert fn is not None
        fn(5, 5000)
    assert "5,000" not in capsys.readouterr().err  # no "5000/10" beyond 100%


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536, 5 << 30)] == ["0 B", "1,023 B", "1.0 KiB", "1.5 KiB",
                                                                       "5.0 GiB"]


@pytest.mark.parametrize("when", [1, 20])
def test_an_interrupted_backup_leaves_the_store_as_it_was(store: kloset.Store, tmp_path: Path, when: int) -> None:
    src = _source(tmp_path / "src")
    before = store.backup(str(src))
    (src / "d1" / "more").write_bytes(os.urandom(300_000))
    with pytest.raises(KeyboardInterrupt):
        store.backup(str(src), progress=Calls(stop_after=when))
    assert [s.id for s in store.snapshots()] == [before.id]
    assert store.check().ok
    again = store.backup(str(src))  # the next run is not held up by a lock or half-written state
    assert again.summary.files == before.summary.files + 1


def test_an_interrupted_analysis_and_sync_leave_both_stores_as_they_were(store: kloset.Store,
                                                                        tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):  # text, which the analyzers read (they skip random bytes)
        (src / f"mail{i}.txt").write_text(f"write to anna.schmidt{i}@example.org, IBAN DE89370400440532013000\n")
    snap = store.backup(str(src))
    with pytest.raises(KeyboardInterrupt):
        snap.analyze(["gdpr", "email"], processes=0, progress=Calls(stop_after=2))
    assert snap.analyses() == [] and store.check().ok
    other = kloset.create(str(tmp_path / "other"), plaintext=True)
    with pytest.raises(KeyboardInterrupt):
        store.sync(other, progress=Calls(stop_after=3))
    assert other.snapshots() == [] and other.check().ok
    assert store.sync(other).snapshots[0].copied


def test_an_estimate_of_entries_the_work_outgrew_is_dropped_too(capsys: pytest.CaptureFixture[str]) -> None:
    with bar(True, "work", total_items=9, total_bytes=10_000) as fn:
        assert fn is not None
        fn(10, 500)
    text = capsys.readouterr().err
    assert "10 files" in text and "10/9" not in text
