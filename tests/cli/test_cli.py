"""The kloset command line, run in-process through main(argv) and, for a few cases, as a real process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kloset.cli.main import main
from kloset.registry import analyzer_class

PASSPHRASE = "correct horse battery staple"
BIG = random.Random(7).randbytes(600_000)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never read or write the real home: caches, the default store and passphrases all come from here.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("KLOSET_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("KLOSET_REPOSITORY", raising=False)
    monkeypatch.delenv("KLOSET_PASSPHRASE_CMD", raising=False)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "docs" / "b.txt").write_text("bravo\n")
    (root / "sub" / "big.bin").write_bytes(BIG)
    (root / "link").symlink_to("a.txt")
    return root


def quietly(*argv: str) -> None:
    # Fixtures keep their output to themselves, so each test sees only what its own commands print.
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(list(argv)) == 0


@pytest.fixture
def store(tmp_path: Path) -> str:
    location = str(tmp_path / "store")
    quietly("at", location, "create")
    return location


@pytest.fixture
def backed_up(store: str, src: Path) -> str:
    """A store holding one snapshot of ``src``; returns the store's location."""
    quietly("at", store, "backup", str(src), "--tag", "first")
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot_ids(capsys: pytest.CaptureFixture[str], store: str) -> list[str]:
    code, out, _ = run(capsys, "at", store, "ls", "--json")
    assert code == 0
    return [s["id"] for s in json.loads(out)]


def flip_byte_in_largest_pack(store: str) -> None:
    packs = [p for p in (Path(store) / "packfiles").rglob("*") if p.is_file()]
    largest = max(packs, key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    largest.write_bytes(bytes(data))


# -- the top level ----------------------------------------------------------------------------------


def test_help_lists_the_commands_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("create", "backup", "ls", "cat", "restore", "info", "diff", "locate", "check", "rm"):
        assert re.search(rf"^  {command}\s", out, re.M)
    assert "exit codes" in out
    assert re.search(r"^  10\s+check found damage", out, re.M)
    assert re.search(r"^  4\s+authentication", out, re.M)


@pytest.mark.parametrize("argv", [[], ["at"], ["at", "/somewhere"], ["frobnicate"], ["ls", "--no-such-flag"],
                                  ["restore", "latest"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "usage:" in err or "error" in err


def test_a_missing_store_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "at", str(tmp_path / "nowhere"), "ls")
    assert code == 3
    assert err.startswith("kloset: error: ")


def test_a_wrong_passphrase_exits_4(backed_up: str, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE", "not it")
    code, out, err = run(capsys, "at", backed_up, "ls")
    assert code == 4
    assert out == ""
    assert "passphrase" in err


def _children() -> set[int]:
    return {int(p) for task in Path("/proc/self/task").iterdir() for p in (task / "children").read_text().split()}


@pytest.mark.parametrize("fault", ["wrong passphrase", "no store"])
def test_a_backup_that_cannot_open_its_store_leaves_no_walk_behind(
        backed_up: str, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    # The walk of the source starts before the store is opened, to overlap with the passphrase's KDF.
    location = backed_up
    for i in range(3000):  # more than the pipe holds: the walk is still running when the store fails
        (src / f"many-{i:05}").write_bytes(b"")
    if fault == "wrong passphrase":
        monkeypatch.setenv("KLOSET_PASSPHRASE", "not it")
    else:
        location = str(tmp_path / "nowhere")
    before = _children()
    code, out, _ = run(capsys, "at", location, "backup", str(src))
    assert code == (4 if fault == "wrong passphrase" else 3)
    assert out == ""
    assert _children() == before


def test_an_unknown_snapshot_exits_3(backed_up: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", backed_up, "ls", "ffffffffff")[0] == 3
    assert run(capsys, "at", backed_up, "cat", "ffffffffff:/a.txt")[0] == 3
    assert run(capsys, "at", backed_up, "ls", "latest:/no/such/path")[0] == 3


# -- create -----------------------------------------------------------------------------------------


def test_create_makes_missing_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    location = tmp_path / "deep" / "er" / "store"
    code, out, _ = run(capsys, "at", str(location), "create")
    assert code == 0
    assert "created encrypted store" in out
    assert (location / "CONFIG").is_file()


def test_create_refuses_an_existing_store(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "at", store, "create")
    assert code == 2
    assert "already" in err


def test_a_plaintext_store_needs_no_passphrase(tmp_path: Path, src: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    location = str(tmp_path / "plain")
    monkeypatch.delenv("KLOSET_PASSPHRASE")
    assert run(capsys, "at", location, "create", "--plaintext")[0] == 0
    assert run(capsys, "at", location, "backup", str(src))[0] == 0
    code, out, _ = run(capsys, "at", location, "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["encrypted"] is False
    assert info["snapshots"] == 1


# -- backup -----------------------------------------------------------------------------------------


def test_backup_prints_one_summary_line(store: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "at", store, "backup", str(src))
    assert code == 0
    assert re.fullmatch(r"created snapshot [0-9a-f]{8}: 3 files, 3 dirs, 600\.0 kB, [\d.]+ [kM]?B stored, "
                        r"[\d.]+s\n", out), out
    assert err == ""  # no progress bar when stderr is not a terminal


def test_backup_quiet_prints_nothing(store: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", store, "backup", "--quiet", str(src)) == (0, "", "")


def test_backup_defaults_to_the_current_directory(store: str, src: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(src / "docs")
    assert run(capsys, "at", store, "backup")[0] == 0
    code, out, _ = run(capsys, "at", store, "ls", "--json")
    assert code == 0
    assert [s["root"] for s in json.loads(out)] == [str(src / "docs")]


def test_backup_without_at_creates_the_default_store(tmp_path: Path, src: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "backup", str(src))
    assert code == 0
    assert (tmp_path / "data" / "kloset" / "store" / "CONFIG").is_file()
    code, out, _ = run(capsys, "ls")
    assert code == 0
    assert str(src) in out


def test_backup_records_labels_tags_and_excludes(store: str, src: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    exclude_file = tmp_path / "excludes"
    exclude_file.write_text("# documentation is elsewhere\ndocs/\n")
    code, _, _ = run(capsys, "at", store, "backup", str(src), "--tag", "daily", "--tag", "home",
                     "--exclude", "*.bin", "--exclude-file", str(exclude_file), "--name", "nightly",
                     "--category", "laptop", "--environment", "prod", "--perimeter", "eu", "--job", "j1")
    assert code == 0
    code, out, _ = run(capsys, "at", store, "info", "latest", "--json")
    info = json.loads(out)
    assert info["tags"] == ["daily", "home"]
    assert (info["name"], info["category"], info["environment"], info["perimeter"], info["job"]) == (
        "nightly", "laptop", "prod", "eu", "j1")
    assert info["command_line"] == " ".join(sys.argv)
    code, out, _ = run(capsys, "at", store, "ls", "-r", "--json", "latest")
    assert sorted(e["name"] for e in json.loads(out)) == ["a.txt", "link", "sub"]


def test_backup_of_a_missing_path_exits_3(store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", store, "backup", str(tmp_path / "absent"))[0] == 3


# -- ls ---------------------------------------------------------------------------------------------


def test_ls_lists_snapshots_oldest_first(backed_up: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (src / "a.txt").write_text("changed\n")
    assert run(capsys, "at", backed_up, "backup", str(src))[0] == 0
    ids = snapshot_ids(capsys, backed_up)
    code, out, _ = run(capsys, "at", backed_up, "ls")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [i[:8] for i in ids]
    assert "first" in lines[0] and lines[0].endswith(str(src))
    assert "3 files" in lines[0] and "600.0 kB" in lines[0]


def test_ls_lists_the_snapshot_root(backed_up: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "at", backed_up, "ls", "latest")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert [r[-1] if r[0][0] != "l" else " ".join(r[-3:]) for r in rows] == [
        "a.txt", "docs", "link -> a.txt", "sub"]
    assert rows[0][:3] == ["-rw-r--r--", "root", "root"] or rows[0][0] == "-rw-r--r--"
    assert rows[1][0].startswith("d")


def test_ls_lists_a_directory_a_file_and_a_tree(backed_up: str, src: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "at", backed_up, "ls", "latest:sub")
    assert code == 0 and out.split()[-1] == "big.bin" and len(out.splitlines()) == 1
    code, out, _ = run(capsys, "at", backed_up, "ls", f"latest:{src}/a.txt")
    assert code == 0 and out.split()[-1] == "a.txt" and len(out.splitlines()) == 1
    code, out, _ = run(capsys, "at", backed_up, "ls", "-r", "latest")
    assert [line.split()[-1] for line in out.splitlines() if not line.startswith("l")] == [
        "a.txt", "docs", "docs/b.txt", "sub", "sub/big.bin"]


def test_ls_json_in_every_form(backed_up: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "at", backed_up, "ls", "--json")
    (snap,) = json.loads(out)
    assert snap["root"] == str(src) and snap["tags"] == ["first"] and snap["files"] == 3
    assert len(snap["id"]) == 64 and snap["short_id"] == snap["id"][:8]

    code, out, _ = run(capsys, "at", backed_up, "ls", "--json", snap["short_id"])
    entries = {e["name"]: e for e in json.loads(out)}
    assert set(entries) == {"a.txt", "docs", "link", "sub"}
    assert entries["a.txt"]["size"] == 6 and entries["a.txt"]["mode_string"] == "-rw-r--r--"
    assert entries["link"]["target"] == "a.txt"
    assert entries["docs"]["type"] == "dir"

    code, out, _ = run(capsys, "at", backed_up, "ls", "--json", "-r", "latest:/" + str(src).lstrip("/"))
    assert {e["path"] for e in json.loads(out)} >= {f"{src}/docs/b.txt", f"{src}/sub/big.bin"}

    code, out, _ = run(capsys, "at", backed_up, "ls", "--json", "latest:sub/big.bin")
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["size"] == len(BIG) and entry["path"] == f"{src}/sub/big.bin"


def test_ls_of_an_empty_store(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", store, "ls") == (0, "", "")
    assert run(capsys, "at", store, "ls", "--json")[:2] == (0, "[]\n")


# -- cat --------------------------------------------------------------------------------------------


def test_cat_writes_the_bytes(backed_up: str, src: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["at", backed_up, "cat", "latest:sub/big.bin"]) == 0
    assert capsysbinary.readouterr().out == BIG
    assert main(["at", backed_up, "cat", f"latest:{src}/a.txt", "latest:docs/b.txt"]) == 0
    assert capsysbinary.readouterr().out == b"alpha\nbravo\n"


def test_cat_of_a_directory_fails(backed_up: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", backed_up, "cat", "latest:docs")[0] == 3
    assert run(capsys, "at", backed_up, "cat", "latest")[0] == 2


# -- restore ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["-to", "--to"])
def test_restore_a_whole_snapshot(backed_up: str, src: Path, tmp_path: Path, spelling: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "restored"
    code, out, _ = run(capsys, "at", backed_up, "restore", spelling, str(target), "latest")
    assert code == 0
    assert out.startswith("restored 3 files")
    assert (target / "a.txt").read_text() == "alpha\n"
    assert (target / "sub" / "big.bin").read_bytes() == BIG
    assert os.readlink(target / "link") == "a.txt"


def test_restore_part_of_a_snapshot(backed_up: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "part"
    sid = snapshot_ids(capsys, backed_up)[0]
    assert run(capsys, "at", backed_up, "restore", f"-to={target}", f"{sid[:6]}:docs")[0] == 0
    assert sorted(os.listdir(target)) == ["b.txt"]


# -- info, diff, locate, rm -------------------------------------------------------------------------


def test_info_of_the_store_and_of_a_snapshot(backed_up: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "at", backed_up, "info")
    assert code == 0
    assert re.search(r"^encrypted:\s+yes$", out, re.M)
    assert re.search(r"^snapshots:\s+1$", out, re.M)
    code, out, _ = run(capsys, "at", backed_up, "info", "latest")
    assert code == 0
    assert re.search(rf"^root:\s+{re.escape(str(src))}$", out, re.M)
    assert re.search(r"^files:\s+3$", out, re.M)
    assert re.search(r"^tags:\s+first$", out, re.M)


def test_diff_shows_added_removed_and_modified(backed_up: str, src: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (src / "a.txt").write_text("alpha, longer now\n")
    (src / "docs" / "b.txt").unlink()
    (src / "new.txt").write_text("new\n")
    assert run(capsys, "at", backed_up, "backup", str(src))[0] == 0
    old, new = snapshot_ids(capsys, backed_up)
    code, out, _ = run(capsys, "at", backed_up, "diff", old[:8], new[:8])
    assert code == 0
    lines = out.splitlines()
    assert f"- {src}/docs/b.txt" in lines
    assert f"+ {src}/new.txt" in lines
    (modified,) = [line for line in lines if line.startswith(f"~ {src}/a.txt")]
    assert "size" in modified


def test_locate_prints_snapshot_and_path(backed_up: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sid = snapshot_ids(capsys, backed_up)[0]
    code, out, _ = run(capsys, "at", backed_up, "locate", "*.txt")
    assert code == 0
    assert out.splitlines() == [f"{sid[:8]}:{src}/a.txt", f"{sid[:8]}:{src}/docs/b.txt"]


def test_rm_forgets_snapshots(backed_up: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", backed_up, "backup", str(src))[0] == 0
    first, second = snapshot_ids(capsys, backed_up)
    code, out, _ = run(capsys, "at", backed_up, "rm", first[:10])
    assert code == 0
    assert out == f"removed snapshot {first}\n"
    assert snapshot_ids(capsys, backed_up) == [second]
    assert run(capsys, "at", backed_up, "rm", first[:10])[0] == 3


# -- check and damage -------------------------------------------------------------------------------


def test_check_of_a_sound_store(backed_up: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "at", backed_up, "check")
    assert code == 0 and out.startswith("OK (1 snapshots")
    code, out, _ = run(capsys, "at", backed_up, "check", "--fast", "latest")
    assert code == 0 and "data not read" in out


def test_check_and_restore_of_a_damaged_pack(backed_up: str, src: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    flip_byte_in_largest_pack(backed_up)

    code, out, err = run(capsys, "at", backed_up, "check")
    assert code == 10
    assert f"{src}/sub/big.bin" in out
    assert "damaged pack" in out
    assert err.startswith("kloset: error: check found damage")

    target = tmp_path / "restored"
    code, out, err = run(capsys, "at", backed_up, "restore", "-to", str(target), "latest")
    assert code == 5
    assert f"{src}/sub/big.bin" in err
    assert (target / "a.txt").read_text() == "alpha\n"
    assert (target / "docs" / "b.txt").read_text() == "bravo\n"
    assert not (target / "sub" / "big.bin").exists()

    assert run(capsys, "at", backed_up, "cat", "latest:sub/big.bin")[0] == 5


def test_check_of_named_snapshots_judges_only_them(backed_up: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "small.txt").write_text("small\n")
    assert run(capsys, "at", backed_up, "backup", str(other))[0] == 0
    damaged, sound = snapshot_ids(capsys, backed_up)
    flip_byte_in_largest_pack(backed_up)  # the pack of the first backup's big file

    code, out, err = run(capsys, "at", backed_up, "check", sound[:8])
    assert code == 0 and out.startswith("OK")
    assert "warning" in err
    code, out, _ = run(capsys, "at", backed_up, "check", damaged[:8])
    assert code == 10 and f"snapshot {damaged[:8]}: 1 damaged files" in out


# -- as a real process ------------------------------------------------------------------------------


def kloset_process(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kloset.cli.main", *argv], capture_output=True, text=True,
                          timeout=120)


def test_process_round_trip(tmp_path: Path, src: Path) -> None:
    location = str(tmp_path / "store")
    assert kloset_process("at", location, "create").returncode == 0
    done = kloset_process("at", location, "backup", str(src), "--tag", "proc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("created snapshot ")
    done = kloset_process("at", location, "ls", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["tags"] == ["proc"]
    done = kloset_process("at", location, "cat", "latest:a.txt")
    assert (done.returncode, done.stdout) == (0, "alpha\n")


def test_process_exit_codes(tmp_path: Path) -> None:
    done = kloset_process("at", str(tmp_path / "none"), "info")
    assert done.returncode == 3
    assert done.stderr.startswith("kloset: error: ")
    assert kloset_process("no-such-command").returncode == 2
    assert kloset_process("--help").returncode == 0


def _imports_pandas(*argv: str) -> bool:
    # os._exit, as the command itself ends: the interpreter's teardown of pyarrow's thread pools can
    # abort a process that has finished its work (apache/arrow#34314, see kloset.cli.main._exit).
    code = ("import os, sys\nfrom kloset.cli.main import main\n"
            f"assert main({list(argv)!r}) == 0\nprint('pandas' in sys.modules, flush=True)\nos._exit(0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1] == "True"


def test_commands_do_not_import_pandas(backed_up: str, src: Path, tmp_path: Path) -> None:
    # pandas costs more to import than most of these commands take to run
    assert not _imports_pandas("at", backed_up, "backup", "--quiet", str(src))
    assert not _imports_pandas("at", backed_up, "ls")
    assert not _imports_pandas("at", backed_up, "ls", "--json", "-r", "latest")
    assert not _imports_pandas("at", backed_up, "ls", "latest:sub/big.bin")
    assert not _imports_pandas("at", backed_up, "info", "latest")
    assert not _imports_pandas("at", backed_up, "cat", "latest:a.txt")
    assert not _imports_pandas("at", backed_up, "locate", "*.txt")
    assert not _imports_pandas("at", backed_up, "diff", "latest", "latest")
    assert not _imports_pandas("at", backed_up, "check")
    assert not _imports_pandas("at", backed_up, "restore", "--to", str(tmp_path / "r"), "latest")


# -- analysis ---------------------------------------------------------------------------------------


def test_backup_analyze_prints_the_data_classes_and_info_keeps_them(
        store: str, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (src / "customers.csv").write_text("name,email\nJane Doe,jane.doe@example.com\nJohn Roe,john@example.org\n")
    code, out, err = run(capsys, "at", store, "backup", "--analyze", "gdpr", "--analyze", "email", str(src))
    assert code == 0, err
    assert re.search(r"^  email\s+1 file$", out, re.M)
    code, out, _ = run(capsys, "at", store, "info", "latest", "--json")
    info = json.loads(out)
    assert info["analyzers"] == sorted(analyzer_class(n).key() for n in ("email", "gdpr"))
    assert info["data_classes"]["email"] == 1
    code, out, _ = run(capsys, "at", store, "info", "latest")
    assert re.search(r"^data_classes: .*email \(1 file\)", out, re.M)


def test_analyze_after_the_fact_then_again_reads_nothing(backed_up: str, src: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (src / "a.txt").write_text("call jane.doe@example.com\n")
    quietly("at", backed_up, "backup", str(src))
    code, out, err = run(capsys, "at", backed_up, "analyze", "--analyzer", "gdpr", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["analyzers"] == [analyzer_class("gdpr").key()] and first["analyzed"] == 2 and first["errors"] == []
    assert first["data_classes"] == {"email": 1}
    code, out, _ = run(capsys, "at", backed_up, "analyze", "latest", "--analyzer", "gdpr")
    assert code == 0
    assert out.startswith("analyzed snapshot ") and "0 read (0 B), 2 known already" in out
    assert re.search(r"^  email\s+1 file$", out, re.M)


def test_analyze_with_an_unknown_analyzer_exits_2(backed_up: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "at", backed_up, "analyze", "--analyzer", "nope")
    assert (code, out) == (2, "")
    assert "no analyzer 'nope'" in err
    code, _, err = run(capsys, "at", backed_up, "backup", "--analyze", "gdpr,nope", ".")
    assert code == 2 and "no analyzer 'nope'" in err
