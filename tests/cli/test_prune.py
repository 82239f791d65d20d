"""kloset prune (retention policies, named ones included) and kloset cache rebuild, through the command
line, on real stores."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

# autouse: the config folder, caches, stores and passphrases of the test's own
from test_entries import _isolated, ok, run  # noqa: F401

import kloset


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """Where the isolated config folder is (test_entries' autouse fixture sets it)."""
    return tmp_path / "config"


def source(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "a.txt").write_text(f"{name}\n")
    return root


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    location = str(tmp_path / "store")
    ok(capsys, "at", location, "create", "--plaintext")
    return location


@pytest.fixture
def tagged(store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Four snapshots of one source, tagged t1 (oldest) to t4; short ID by tag."""
    src = source(tmp_path, "src")
    for tag in ("t1", "t2", "t3", "t4"):
        ok(capsys, "at", store, "backup", "-q", "--tag", tag, str(src))
    return {s["tags"][0]: s["short_id"] for s in listed(capsys, store)}


def listed(capsys: pytest.CaptureFixture[str], store: str) -> list[dict[str, Any]]:
    snapshots: list[dict[str, Any]] = json.loads(ok(capsys, "at", store, "ls", "--json"))
    return snapshots


def listed_ids(capsys: pytest.CaptureFixture[str], store: str) -> set[str]:
    return {str(s["short_id"]) for s in listed(capsys, store)}


# -- prune ---------------------------------------------------------------------------------------------


def test_prune_prints_the_reasons_of_each_kept_snapshot_and_ls_shows_exactly_those(
        store: str, tagged: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "at", store, "prune", "--keep-last", "2", "--keep-tag", "t1")

    lines = out.splitlines()
    assert lines[0].startswith("host ") and "source fs:" in lines[0] and lines[0].endswith(
        f"{tmp_path / 'src'}: keep 3, remove 1")
    assert lines[1].split() == ["ID", "time", "kept", "because"]
    rows = {line.split()[0]: line.split(None, 3)[3] for line in lines[3:6]}
    assert rows == {tagged["t4"]: "last 1", tagged["t3"]: "last 2", tagged["t1"]: "tag t1"}
    assert lines[6] == "removed:" and lines[7].split()[0] == tagged["t2"]
    assert lines[-1] == "removed 1 snapshot, kept 3 snapshots"
    assert listed_ids(capsys, store) == {tagged["t1"], tagged["t3"], tagged["t4"]}


def test_a_dry_run_prints_the_decision_and_changes_nothing(
        store: str, tagged: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "at", store, "prune", "--keep-last", "1", "--dry-run")

    assert "would remove:" in out.splitlines()
    assert out.splitlines()[-1] == "would remove 3 snapshots, keep 1 snapshot (dry run: nothing was changed)"
    assert listed_ids(capsys, store) == set(tagged.values())


def test_grouping_by_none_applies_the_policy_to_every_source_at_once(
        store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("one", "two"):
        ok(capsys, "at", store, "backup", "-q", str(source(tmp_path, name)))

    by_source = ok(capsys, "at", store, "prune", "--keep-last", "1", "--dry-run")
    together = ok(capsys, "at", store, "prune", "--keep-last", "1", "--group-by", "none")

    assert by_source.splitlines()[-1].startswith("would remove 0 snapshots, keep 2 snapshots")
    assert together.splitlines()[0] == "all snapshots: keep 1, remove 1"
    (kept,) = listed(capsys, store)
    assert kept["root"] == str(tmp_path / "two")


# -- named policies ------------------------------------------------------------------------------------


def test_a_saved_policy_is_written_to_the_config_and_used_by_name(
        store: str, tagged: dict[str, str], config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "prune", "--keep-last", "1", "--keep-tag", "t1", "--save-policy", "mine")

    assert out == "saved policy mine: --keep-last 1 --keep-tag t1\n"
    path = config_dir / "policies.yaml"
    assert yaml.safe_load(path.read_text()) == {"mine": {"keep_last": 1, "keep_tags": ["t1"]}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Flags given beside the name replace its fields, for this run only.
    out = ok(capsys, "at", store, "prune", "--policy", "mine", "--keep-last", "2", "--dry-run")
    assert out.splitlines()[-1].startswith("would remove 1 snapshot, keep 3 snapshots")
    ok(capsys, "at", store, "prune", "--policy", "mine")
    assert listed_ids(capsys, store) == {tagged["t1"], tagged["t4"]}


def test_saving_a_policy_under_a_taken_name_replaces_it_and_may_start_from_another(
        config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "prune", "--keep-daily", "7", "--save-policy", "daily")
    out = ok(capsys, "prune", "--policy", "daily", "--keep-weekly", "4", "--keep-within", "2d3h",
             "--group-by", "host", "--save-policy", "daily")

    assert out == "replaced policy daily: --keep-daily 7 --keep-weekly 4 --keep-within 2d3h --group-by host\n"
    assert yaml.safe_load((config_dir / "policies.yaml").read_text()) == {
        "daily": {"keep_daily": 7, "keep_weekly": 4, "keep_within": "2d3h", "group_by": "host"}}


def test_the_api_reads_a_policy_the_command_line_saved(capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "prune", "--keep-monthly", "12", "--keep-tag", "a,b", "--save-policy", "year")

    assert kloset.RetentionPolicy.named("year") == kloset.RetentionPolicy(keep_monthly=12, keep_tags=["a,b"])


# -- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["--keep-last", "-1"], "keep_last must be a whole number of snapshots, 0 or more"),
    (["--keep-daily", "0"], "no keep rule given"),
    ([], "no keep rule given"),
    (["--keep-within", "2 days"], "'2 days' is not a duration: write numbers with units y, m, d, h"),
    (["--keep-last", "1", "--group-by", "host,planet"], "cannot group snapshots by 'planet'"),
    (["--keep-tag", ","], "keep tag ',' is not a tag"),
    (["--policy", "nope"], "no retention policy named 'nope' (saved policies: none yet"),
    (["--keep-last", "1", "--save-policy", "bad/name"], "'bad/name' is not a valid name"),
], ids=["negative", "zero", "nothing", "duration", "group", "tag", "unknown-policy", "policy-name"])
def test_bad_input_exits_2_and_says_what_to_fix(store: str, argv: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "at", store, "prune", *argv)

    assert code == 2
    assert message in err
    assert out == ""


def test_a_count_that_is_not_a_number_is_a_usage_error(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "at", store, "prune", "--keep-last", "three")

    assert code == 2 and "--keep-last" in err


def test_a_hand_edited_policy_with_an_unknown_field_names_the_file_and_the_field(
        store: str, config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_dir.mkdir()
    (config_dir / "policies.yaml").write_text("weekly:\n  keep_weakly: 4\n")

    code, _, err = run(capsys, "at", store, "prune", "--policy", "weekly")

    assert code == 2
    assert f"{config_dir / 'policies.yaml'}: policy 'weekly': unknown field 'keep_weakly'" in err


# -- cache rebuild -------------------------------------------------------------------------------------


def index_cache(store: str) -> Path:
    with kloset.open(store) as s:
        return Path(s._repo.cache_dir or "") / "index"


@pytest.mark.parametrize("damage", ["garbage", "deleted"])
def test_cache_rebuild_builds_the_index_again_from_the_store(
        store: str, tagged: dict[str, str], damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "at", store, "rm", tagged["t2"])
    cache = index_cache(store)
    assert cache.is_file()
    if damage == "garbage":
        cache.write_bytes(b"\x00not an index" * 100)
    else:
        cache.unlink()

    out = ok(capsys, "at", store, "cache", "rebuild")

    with kloset.open(store) as s:
        assert out == (f"rebuilt the index cache of store {s.id}: 5 states merged, {s.info()['packs']} packs, "
                       f"{s.info()['blobs']} blobs, 3 snapshots\n")
    assert cache.is_file() and b"not an index" not in cache.read_bytes()
    assert listed_ids(capsys, store) == {tagged["t1"], tagged["t3"], tagged["t4"]}


def test_cache_rebuild_mends_a_cache_that_reads_well_but_lacks_a_snapshot(
        store: str, tagged: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    # A cache that opens and claims every state of the store is trusted as it is: only a rebuild
    # finds what it lost.
    with kloset.open(store) as s:
        repo = s._repo
        lost = bytes.fromhex(s.snapshot(tagged["t3"]).id)
        index = repo.index
        del index.blobs[lost]
        del index._snapshots[lost]
        repo._cache.save(index)
    assert listed_ids(capsys, store) == {tagged["t1"], tagged["t2"], tagged["t4"]}

    assert "4 snapshots" in ok(capsys, "at", store, "cache", "rebuild")

    assert listed_ids(capsys, store) == set(tagged.values())
    assert ok(capsys, "at", store, "cat", f"{tagged['t3']}:a.txt") == "src\n"


def test_cache_needs_an_action(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "at", store, "cache")

    assert code == 2 and "ACTION" in err
