"""Named sources, destinations and stores (``@name``): the entries commands, and ``@name`` wherever a
location is taken, through the command line and the API."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

import pytest
import yaml

import kloset
from kloset.cli.main import main
from kloset.config import Entries, is_secret
from kloset.location import connector_config

PASSPHRASE = "entry passphrase, not the environment's"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The entries folder; never the real user's entries, caches, stores or passphrases."""
    for var, folder in (("KLOSET_CONFIG_DIR", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / folder))
    for var in ("KLOSET_PASSPHRASE", "KLOSET_PASSPHRASE_CMD", "KLOSET_REPOSITORY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "config"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "some" / "dir"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.txt").write_text("bravo\n")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def test_the_documented_flow_works_word_for_word(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE", "the environment's, for some other store")
    ok(capsys, "source", "add", "src", str(src))
    ok(capsys, "store", "add", "st", str(tmp_path / "x"), f"passphrase={PASSPHRASE}")
    ok(capsys, "at", "@st", "create")
    assert "created snapshot" in ok(capsys, "at", "@st", "backup", "@src")
    ok(capsys, "destination", "add", "dst", str(tmp_path / "out"))
    snap = ok(capsys, "at", "@st", "ls").split()[0]
    ok(capsys, "at", "@st", "restore", "-to", "@dst", snap)

    assert (tmp_path / "out" / "a.txt").read_text() == "alpha\n"
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "bravo\n"
    # The entry's passphrase made the store, not the environment's.
    with kloset.open(str(tmp_path / "x"), passphrase=PASSPHRASE) as store:
        assert store.encrypted and len(store.snapshots()) == 1


def test_an_imap_source_is_accepted_as_written_and_its_password_hidden(
        capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "source", "add", "IMAPsrc", "imap://HOST:PORT", "username=U", "password=P", "tls=starttls")

    shown = yaml.safe_load(ok(capsys, "source", "show", "IMAPsrc"))
    assert shown == {"IMAPsrc": {"location": "imap://HOST:PORT", "username": "U", "password": "********",
                                 "tls": "starttls"}}
    assert yaml.safe_load(ok(capsys, "source", "show", "--secrets"))["IMAPsrc"]["password"] == "P"
    assert connector_config("@IMAPsrc", "source") == {"location": "imap://HOST:PORT", "username": "U",
                                                      "password": "P", "tls": "starttls"}


def test_a_password_in_a_url_is_hidden_too(capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "store", "add", "st", "sftp://me:hunter2@127.0.0.1:2222/backups")

    assert "hunter2" not in ok(capsys, "store", "ls") + ok(capsys, "store", "show")
    assert "sftp://me:********@127.0.0.1:2222/backups" in ok(capsys, "store", "ls")
    assert "hunter2" in ok(capsys, "store", "show", "st", "--secrets")


@pytest.mark.parametrize("key", ["password", "secret_access_key", "passphrase", "passphrase_cmd", "api_token",
                                 "ClientSecret"])
def test_keys_naming_a_secret_are_secrets(key: str) -> None:
    assert is_secret(key)


@pytest.mark.parametrize("key", ["username", "access_key", "tls", "location", "identity"])
def test_other_keys_are_not_secrets(key: str) -> None:
    assert not is_secret(key)


def test_entry_files_are_private_from_the_start(_isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(0)  # what the file is created with, before any chmod, is what counts
    try:
        ok(capsys, "store", "add", "st", "s3://127.0.0.1:9000/bucket", "secret_access_key=k")
    finally:
        os.umask(old)

    assert stat.S_IMODE((_isolated / "stores.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE(_isolated.stat().st_mode) == 0o700
    assert [p.name for p in _isolated.iterdir() if p.name.startswith(".stores")] == []  # no temp file left


def test_set_unset_rm_and_ls_change_and_list_entries(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ok(capsys, "destination", "add", "b", "sftp://host/backups", "user=me")
    ok(capsys, "destination", "add", "a", str(tmp_path / "out"))
    ok(capsys, "destination", "set", "b", "user=you", "port=2222", "password=x=y")
    ok(capsys, "destination", "unset", "b", "port", "never-set")

    assert Entries("destination").get("b") == {"location": "sftp://host/backups", "user": "you", "password": "x=y"}
    assert ok(capsys, "destination", "ls").splitlines() == [f"a  {tmp_path / 'out'}", "b  sftp://host/backups"]
    ok(capsys, "destination", "rm", "a")
    assert Entries("destination").names() == ["b"]


def test_a_relative_path_is_kept_absolute(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ok(capsys, "source", "add", "here", "some/dir")

    assert Entries("source").get("here")["location"] == str(tmp_path / "some" / "dir")


@pytest.mark.parametrize("argv", [
    ["source", "add", "src", "/x", "novalue"],
    ["source", "add", "-bad", "/x"],
    ["source", "add", "src", "@other"],
    ["source", "add", "twice", "/x"],
    ["source", "unset", "twice", "location"],
    ["source", "set", "twice", "bad key=1"],
], ids=["key without value", "bad name", "entry of an entry", "taken name", "unset location", "bad key"])
def test_bad_changes_exit_2_and_change_nothing(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    Entries("source").add("twice", "/first")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert "error" in err
    assert Entries("source").all() == {"twice": {"location": "/first"}}


@pytest.mark.parametrize("argv", [["at", "@nowhere", "ls"], ["store", "show", "nowhere"],
                                  ["store", "rm", "nowhere"], ["store", "ping", "nowhere"]])
def test_an_unknown_name_exits_3_naming_it_and_its_kind(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 3
    assert "no store named 'nowhere'" in err


def test_an_unknown_source_or_destination_is_named_with_its_kind(tmp_path: Path, src: Path) -> None:
    with kloset.create(str(tmp_path / "st"), plaintext=True) as store:
        with pytest.raises(kloset.NotFound, match="no source named 'nope'"):
            store.backup("@nope")
        snap = store.backup(str(src))
        with pytest.raises(kloset.NotFound, match="no destination named 'nope'"):
            snap.restore("@nope")


def test_a_subpath_joins_onto_the_entry_location(src: Path, tmp_path: Path) -> None:
    Entries("source").add("src", str(src))
    Entries("source").add("mail", "imap://127.0.0.1:1143/INBOX", {"tls": "no-tls"})
    Entries("destination").add("dst", str(tmp_path / "out"))

    assert connector_config("@src:sub", "source")["location"] == str(src / "sub")
    assert connector_config("@mail:Sent/2024", "source") == {"location": "imap://127.0.0.1:1143/INBOX/Sent/2024",
                                                             "tls": "no-tls"}
    with kloset.create(str(tmp_path / "st"), plaintext=True) as store:
        snap = store.backup("@src:/sub")
        assert snap.root == str(src / "sub")
        snap.restore("@dst:restored")
    assert (tmp_path / "out" / "restored" / "b.txt").read_text() == "bravo\n"


def test_keys_given_with_a_name_override_the_entry() -> None:
    Entries("source").add("mail", "imap://127.0.0.1:1143", {"username": "u", "password": "old"})

    config = connector_config({"location": "@mail", "password": "new"}, "source")

    assert config == {"location": "imap://127.0.0.1:1143", "username": "u", "password": "new"}


def test_a_name_where_no_kind_of_entry_is_expected_is_a_config_error() -> None:
    with pytest.raises(kloset.ConfigError, match="not accepted here"):
        connector_config("@anything")


def test_a_store_entry_passphrase_comes_after_the_argument_and_before_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kloset.create(str(tmp_path / "st"), passphrase=PASSPHRASE).close()
    monkeypatch.setenv("KLOSET_PASSPHRASE", "wrong")
    Entries("store").add("right", str(tmp_path / "st"), {"passphrase": PASSPHRASE})
    Entries("store").add("by-command", str(tmp_path / "st"),
                         {"passphrase_cmd": shlex.join([sys.executable, "-c", f"print({PASSPHRASE!r})"])})
    Entries("store").add("none", str(tmp_path / "st"))

    with kloset.open("@right") as store:
        assert "passphrase" not in store.storage.config  # kloset's key, never the connector's
    kloset.open("@by-command").close()
    with pytest.raises(kloset.AuthenticationError):
        kloset.open("@right", passphrase="wrong")  # the argument comes first
    with pytest.raises(kloset.AuthenticationError):
        kloset.open("@none")  # no key in the entry: the environment's


def test_a_failing_passphrase_command_is_a_config_error(tmp_path: Path) -> None:
    kloset.create(str(tmp_path / "st"), passphrase=PASSPHRASE).close()
    Entries("store").add("st", str(tmp_path / "st"), {"passphrase_cmd": "false"})

    with pytest.raises(kloset.ConfigError, match="passphrase command failed"):
        kloset.open("@st")


def test_ping_says_ok_and_exits_0(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kloset.create(str(tmp_path / "st"), plaintext=True).close()
    ok(capsys, "store", "add", "st", str(tmp_path / "st"))
    ok(capsys, "source", "add", "src", str(src))
    ok(capsys, "destination", "add", "dst", str(tmp_path / "out"))

    assert "ok, plaintext store" in ok(capsys, "store", "ping", "st")
    assert ok(capsys, "source", "ping", "src") == f"source src ({src}): ok\n"
    assert ok(capsys, "destination", "ping", "dst").endswith(": ok\n")


def test_ping_of_what_cannot_be_reached_says_why_with_the_error_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kloset.create(str(tmp_path / "st"), passphrase=PASSPHRASE).close()
    ok(capsys, "source", "add", "gone", str(tmp_path / "gone"))
    ok(capsys, "store", "add", "empty", str(tmp_path / "empty"))
    ok(capsys, "store", "add", "locked", str(tmp_path / "st"), "passphrase=wrong")

    code, out, err = run(capsys, "source", "ping", "gone")
    assert (code, out) == (3, "")
    assert err.startswith(f"kloset: source gone ({tmp_path / 'gone'}): ") and "no such file" in err
    assert run(capsys, "store", "ping", "empty")[0] == 3
    code, _, err = run(capsys, "store", "ping", "locked")
    assert code == 4 and "store locked" in err


def test_a_damaged_entries_file_is_a_config_error(_isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _isolated.mkdir()
    (_isolated / "sources.yaml").write_text("src: [unclosed\n")

    code, _, err = run(capsys, "source", "ls")
    assert code == 2 and "sources.yaml" in err


def test_a_hand_written_entry_reads_its_values_as_text(_isolated: Path) -> None:
    _isolated.mkdir()
    (_isolated / "sources.yaml").write_text("mail:\n  location: imap://h\n  port: 993\n  tls: no\n")

    assert Entries("source").get("mail") == {"location": "imap://h", "port": "993", "tls": "false"}

