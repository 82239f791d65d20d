"""kloset sync on the command line: what it prints, the other store's passphrase, and its failures."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

import kloset
from kloset.cli.main import main


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for var in ("KLOSET_REPOSITORY", "KLOSET_PASSPHRASE", "KLOSET_PASSPHRASE_CMD", "KLOSET_OTHER_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def files_below(path: Path) -> list[str]:
    return sorted(str(p) for p in path.rglob("*"))


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "link").symlink_to("a.txt")
    return root


@pytest.fixture
def pair(tmp_path: Path, src: Path) -> tuple[str, str]:
    """Two plaintext stores; the first has two snapshots of ``src``."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for s in (a, b):
        assert run("at", s, "create", "--plaintext")[0] == 0
    assert run("at", a, "backup", "--tag", "one", str(src))[0] == 0
    (src / "a.txt").write_text("alpha, again\n")
    assert run("at", a, "backup", str(src))[0] == 0
    return a, b


def test_sync_prints_each_snapshot_and_the_totals(pair: tuple[str, str]) -> None:
    a, b = pair
    code, out, _ = run("at", a, "sync", "to", b)
    lines = out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines] == ["copied", "copied", "copied"]
    assert lines[-1].startswith("copied 2 snapshots (0 already there), ")
    code, out, _ = run("at", a, "sync", "to", b)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[:2]] == ["skipped", "skipped"]
    assert "copied 0 snapshots (2 already there), 0 B stored" in out
    code, out, _ = run("at", b, "ls")
    assert code == 0 and len(out.strip().splitlines()) >= 2


def test_sync_of_named_snapshots_from_the_other_store(pair: tuple[str, str], src: Path) -> None:
    a, b = pair
    code, out, _ = run("at", b, "sync", "latest", "from", a)
    assert code == 0
    assert out.splitlines()[0].startswith("copied snapshot ")
    assert "copied 1 snapshot (0 already there)" in out
    with kloset.open(b) as store:
        assert store.snapshot("latest").read_text(str(src / "a.txt")) == "alpha, again\n"
    code, out, _ = run("at", b, "sync", "with", a)
    assert code == 0 and "copied 1 snapshot (2 already there)" in out


def test_sync_between_stores_of_different_passphrases(tmp_path: Path, src: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    monkeypatch.setenv("KLOSET_PASSPHRASE", "first")
    assert run("at", a, "create")[0] == 0
    assert run("at", a, "backup", str(src))[0] == 0
    monkeypatch.setenv("KLOSET_PASSPHRASE", "second")
    assert run("at", b, "create")[0] == 0
    monkeypatch.setenv("KLOSET_PASSPHRASE", "first")
    code, out, err = run("at", a, "sync", "to", b, "--other-passphrase-cmd", f"{sys.executable} -c 'print(\"second\")'")
    assert code == 0, err
    assert "copied 1 snapshot" in out
    monkeypatch.setenv("KLOSET_OTHER_PASSPHRASE", "second")
    code, out, _ = run("at", a, "sync", "with", b)
    assert code == 0 and "copied 0 snapshots (2 already there)" in out


def test_sync_with_a_wrong_other_passphrase_fails_and_writes_nothing(tmp_path: Path, src: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("KLOSET_PASSPHRASE", "right")
    for s in (a, b):
        assert run("at", str(s), "create")[0] == 0
    assert run("at", str(a), "backup", str(src))[0] == 0
    before = files_below(a), files_below(b)
    monkeypatch.setenv("KLOSET_OTHER_PASSPHRASE", "wrong")
    code, out, err = run("at", str(a), "sync", "with", str(b))
    assert code == 4
    assert str(b) in err and "wrong passphrase" in err
    assert out == ""
    assert (files_below(a), files_below(b)) == before


def test_sync_with_a_missing_or_unreachable_store_says_so(pair: tuple[str, str], tmp_path: Path) -> None:
    a, _ = pair
    before = files_below(Path(a))
    code, _, err = run("at", a, "sync", "to", str(tmp_path / "nowhere"))
    assert code == 3
    assert "no store at" in err
    # Nothing listens on port 1; the entry asks for no retry, to keep the test short.
    assert run("store", "add", "far", "sftp://127.0.0.1:1/store", "retries=0")[0] == 0
    code, out, err = run("at", a, "sync", "with", "@far")
    assert code == 7
    assert "cannot connect" in err and out == ""
    assert files_below(Path(a)) == before


@pytest.mark.parametrize("words", [["b"], ["sideways", "b"], ["latest", "b"]])
def test_sync_needs_a_direction_and_a_location(pair: tuple[str, str], words: list[str]) -> None:
    a, _ = pair
    code, _, err = run("at", a, "sync", *words)
    assert code == 2
    assert "to|from|with LOCATION" in err


def test_sync_of_an_unknown_snapshot_is_not_found(pair: tuple[str, str]) -> None:
    a, b = pair
    code, _, err = run("at", a, "sync", "deadbeef", "to", b)
    assert code == 3
    assert "deadbeef" in err
