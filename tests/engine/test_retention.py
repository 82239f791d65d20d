"""Retention policies: restic's ``forget`` rules over snapshot headers (tables of hand-computed cases),
the policy's checks and config form, and ``Store.prune`` on real stores."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest

import kloset
from kloset.errors import ConfigError
from kloset.lifecycle.retention import Duration, RetentionGroup, RetentionPolicy, decide, prune
from kloset.objects import ResourceType
from kloset.snapshot.header import Header

NOW = int(datetime(2027, 6, 1, tzinfo=UTC).timestamp()) * 10**9


def snap(name: str, when: str, *, host: str = "h", root: str = "/src", tags: tuple[str, ...] = ()) -> Header:
    """A header named ``name`` (its ID is the name, padded), taken at ``when`` (ISO 8601, UTC if naive)."""
    t = datetime.fromisoformat(when)
    t = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return Header(timestamp_ns=int(t.timestamp()) * 10**9 + t.microsecond * 1000, hostname=host,
                  importer_type="fs", importer_origin=host, importer_root=root, tags=list(tags),
                  id=name.encode().ljust(32, b"\0"))


def name_of(hex_id: str) -> str:
    return bytes.fromhex(hex_id).rstrip(b"\0").decode()


def apply(headers: list[Header], *, tz: tzinfo = UTC, now_ns: int = NOW,
          **policy: Any) -> tuple[dict[str, list[str]], list[str]]:
    """One group's decision: {kept name: reasons} newest first, and the removed names newest first."""
    groups = decide(headers, RetentionPolicy(**policy), tz=tz, now_ns=now_ns)
    assert len(groups) == 1
    return named(groups[0])


def named(group: RetentionGroup) -> tuple[dict[str, list[str]], list[str]]:
    return {name_of(i): r for i, r in group.kept}, [name_of(i) for i in group.removed]


def twice_a_day(first: int, last: int) -> list[Header]:
    """Snapshots at 09:00 (``dNam``) and 18:00 (``dNpm``) of 2026-11-first to 2026-11-last."""
    return [snap(f"d{d}{half}", f"2026-11-{d:02d}T{hour}:00") for d in range(first, last + 1)
            for half, hour in (("am", "09"), ("pm", "18"))]


# -- each rule ----------------------------------------------------------------------------------------


def test_keep_last_keeps_the_newest_n() -> None:
    headers = [snap(n, f"2026-11-{d}T12:00") for n, d in zip("abcde", range(25, 30), strict=True)]

    kept, removed = apply(headers, keep_last=3)

    assert kept == {"e": ["last 1"], "d": ["last 2"], "c": ["last 3"]}
    assert removed == ["b", "a"]


def test_keep_daily_keeps_the_newest_snapshot_of_each_of_the_newest_days() -> None:
    kept, removed = apply(twice_a_day(25, 29), keep_daily=3)

    assert kept == {"d29pm": ["daily 2026-11-29"], "d28pm": ["daily 2026-11-28"], "d27pm": ["daily 2026-11-27"]}
    assert removed == ["d29am", "d28am", "d27am", "d26pm", "d26am", "d25pm", "d25am"]


def test_a_rule_with_counts_left_keeps_the_oldest_snapshot_as_well() -> None:
    # Five days for ten: restic keeps the group's oldest snapshot too, so the history reaches back as far
    # as it can, although its day has a newer one kept.
    kept, removed = apply(twice_a_day(25, 29), keep_daily=10)

    assert kept == {"d29pm": ["daily 2026-11-29"], "d28pm": ["daily 2026-11-28"], "d27pm": ["daily 2026-11-27"],
                    "d26pm": ["daily 2026-11-26"], "d25pm": ["daily 2026-11-25"],
                    "d25am": ["daily 2026-11-25 (oldest)"]}
    assert removed == ["d29am", "d28am", "d27am", "d26am"]


def test_keep_hourly_keeps_the_newest_snapshot_of_each_hour() -> None:
    headers = [snap("a", "2026-11-29T10:05"), snap("b", "2026-11-29T10:50"), snap("c", "2026-11-29T11:10"),
               snap("d", "2026-11-29T12:00")]

    kept, removed = apply(headers, keep_hourly=2)

    assert kept == {"d": ["hourly 2026-11-29 12:00"], "c": ["hourly 2026-11-29 11:00"]}
    assert removed == ["b", "a"]


def test_keep_weekly_uses_iso_weeks_which_cross_the_year_end() -> None:
    # 2026-11-29 is a Sunday (week 48), the 30th a Monday (week 49); 2026-12-31 and 2027-01-01 are both
    # in 2026's week 53; 2027-01-04 starts 2027's week 1.
    headers = [snap("sun", "2026-11-29T12:00"), snap("mon", "2026-11-30T12:00"), snap("thu", "2026-12-31T12:00"),
               snap("fri", "2027-01-01T12:00"), snap("next", "2027-01-04T12:00")]

    kept, removed = apply(headers, keep_weekly=3)

    assert kept == {"next": ["weekly 2027-W01"], "fri": ["weekly 2026-W53"], "mon": ["weekly 2026-W49"]}
    assert removed == ["thu", "sun"]


def test_keep_monthly_and_yearly_count_their_own_periods() -> None:
    headers = [snap("dec", "2025-12-15T12:00"), snap("jan10", "2026-01-10T12:00"), snap("jan20", "2026-01-20T12:00"),
               snap("feb", "2026-02-01T12:00")]

    assert apply(headers, keep_monthly=2) == ({"feb": ["monthly 2026-02"], "jan20": ["monthly 2026-01"]},
                                               ["jan10", "dec"])
    assert apply(headers, keep_yearly=2) == ({"feb": ["yearly 2026"], "dec": ["yearly 2025"]}, ["jan20", "jan10"])
    assert apply(headers, keep_monthly=2, keep_yearly=2) == (
        {"feb": ["monthly 2026-02", "yearly 2026"], "jan20": ["monthly 2026-01"], "dec": ["yearly 2025"]},
        ["jan10"])


def test_each_kept_snapshot_names_every_rule_that_keeps_it() -> None:
    headers = [snap("d26", "2026-11-26T12:00"), snap("d27", "2026-11-27T18:00", tags=("release",)),
               snap("d28", "2026-11-28T18:00"), snap("d29am", "2026-11-29T09:00"), snap("d29pm", "2026-11-29T18:00")]

    kept, removed = apply(headers, keep_last=2, keep_daily=2, keep_tags=["release"])

    assert kept == {"d29pm": ["last 1", "daily 2026-11-29"], "d29am": ["last 2"], "d28": ["daily 2026-11-28"],
                    "d27": ["tag release"]}
    assert removed == ["d26"]


@pytest.mark.parametrize("order", [1, -1], ids=["as-listed", "reversed"])
def test_snapshots_of_the_same_instant_are_ordered_by_id(order: int) -> None:
    headers = [snap("b", "2026-11-29T12:00"), snap("a", "2026-11-29T12:00"), snap("c", "2026-11-28T12:00")][::order]

    assert apply(headers, keep_last=1) == ({"a": ["last 1"]}, ["b", "c"])
    assert apply(headers, keep_daily=1) == ({"a": ["daily 2026-11-29"]}, ["b", "c"])


def test_keep_tag_keeps_the_snapshots_with_every_tag_of_one_of_its_lists() -> None:
    headers = [snap("none", "2026-11-25T12:00"), snap("a", "2026-11-26T12:00", tags=("a",)),
               snap("ab", "2026-11-27T12:00", tags=("b", "a")), snap("b", "2026-11-28T12:00", tags=("b",))]

    assert apply(headers, keep_tags=["a,b"]) == ({"ab": ["tag a,b"]}, ["b", "a", "none"])
    assert apply(headers, keep_tags=["a", "b"]) == (
        {"b": ["tag b"], "ab": ["tag a", "tag b"], "a": ["tag a"]}, ["none"])


# -- keep-within ---------------------------------------------------------------------------------------


def test_keep_within_counts_back_from_the_newest_snapshot_not_from_now() -> None:
    headers = [snap("newest", "2026-01-10T12:00"), snap("day-before", "2026-01-09T13:00"),
               snap("just-inside", "2026-01-08T12:00:01"), snap("on-the-edge", "2026-01-08T12:00"),
               snap("old", "2026-01-01T12:00")]

    kept, removed = apply(headers, keep_within="2d")

    assert kept == {"newest": ["within 2d"], "day-before": ["within 2d"], "just-inside": ["within 2d"]}
    assert removed == ["on-the-edge", "old"]


def test_keep_within_moves_the_calendar_as_go_adddate_does() -> None:
    # A month before 31 March is "31 February", which is 3 March; hours are counted after the calendar.
    headers = [snap("newest", "2026-03-31T12:00"), snap("mar30-1030", "2026-03-30T10:30"),
               snap("mar30-0930", "2026-03-30T09:30"), snap("mar03-1230", "2026-03-03T12:30"),
               snap("mar03-1130", "2026-03-03T11:30"), snap("mar01", "2026-03-01T12:00")]

    assert apply(headers, keep_within="1m")[1] == ["mar03-1130", "mar01"]
    assert apply(headers, keep_within="1d2h")[1] == ["mar30-0930", "mar03-1230", "mar03-1130", "mar01"]


def test_keep_within_does_not_count_from_a_snapshot_in_the_future() -> None:
    now = int(datetime(2026, 1, 10, tzinfo=UTC).timestamp()) * 10**9
    headers = [snap("future", "2026-02-01T12:00"), snap("newest", "2026-01-09T12:00"),
               snap("inside", "2026-01-08T13:00"), snap("outside", "2026-01-07T12:00")]

    kept, removed = apply(headers, keep_within="1d", now_ns=now)

    assert list(kept) == ["future", "newest", "inside"]
    assert removed == ["outside"]


# -- time zones ----------------------------------------------------------------------------------------


def test_period_boundaries_are_those_of_the_given_time_zone() -> None:
    headers = [snap("late", "2026-11-29T23:30"), snap("evening", "2026-11-29T22:30"), snap("day", "2026-11-28T12:00")]

    assert apply(headers, keep_daily=3) == ({"late": ["daily 2026-11-29"], "day": ["daily 2026-11-28"]}, ["evening"])
    assert apply(headers, tz=timezone(timedelta(hours=1)), keep_daily=3) == (
        {"late": ["daily 2026-11-30"], "evening": ["daily 2026-11-29"], "day": ["daily 2026-11-28"]}, [])


def test_keep_within_counts_calendar_days_across_a_daylight_saving_change() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        paris = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    # Paris moves to summer time on 2026-03-29: a day before 12:00 CEST that day is 12:00 CET on the
    # 28th, 23 hours earlier (11:00 UTC), where in UTC it is 24 hours (10:00 UTC).
    headers = [snap("newest", "2026-03-29T10:00"), snap("a", "2026-03-28T10:30")]

    assert apply(headers, tz=paris, keep_within="1d")[1] == ["a"]
    assert apply(headers, tz=UTC, keep_within="1d")[1] == []


@pytest.fixture
def local_zone() -> Iterator[Callable[[str], None]]:
    """Sets this process's local time zone from a POSIX TZ rule (no time zone database needed)."""
    before = os.environ.get("TZ")

    def use(rule: str) -> None:
        os.environ["TZ"] = rule
        time.tzset()

    yield use
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_without_a_time_zone_the_machine_s_local_time_is_used(local_zone: Callable[[str], None]) -> None:
    headers = [snap("late", "2026-11-29T23:30"), snap("evening", "2026-11-29T22:30"), snap("day", "2026-11-27T12:00")]
    policy = RetentionPolicy(keep_daily=2)

    local_zone("UTC0")
    assert named(decide(headers, policy)[0]) == ({"late": ["daily 2026-11-29"], "day": ["daily 2026-11-27"]},
                                                 ["evening"])
    local_zone("CET-1CEST,M3.5.0,M10.5.0/3")
    assert named(decide(headers, policy)[0]) == ({"late": ["daily 2026-11-30"], "evening": ["daily 2026-11-29"]},
                                                 ["day"])
    # The same daylight saving change as Europe/Paris, through the local zone.
    spring = [snap("newest", "2026-03-29T10:00"), snap("a", "2026-03-28T10:30")]
    assert named(decide(spring, RetentionPolicy(keep_within="1d"), now_ns=NOW)[0])[1] == ["a"]


# -- groups --------------------------------------------------------------------------------------------


def test_each_group_keeps_its_own_snapshots() -> None:
    headers = [snap("h1-src-old", "2026-11-28T12:00", host="h1"), snap("h1-src", "2026-11-29T12:00", host="h1"),
               snap("h1-other", "2026-11-27T12:00", host="h1", root="/other"),
               snap("h2-src-old", "2026-11-26T12:00", host="h2"), snap("h2-src", "2026-11-27T12:00", host="h2")]
    policy = RetentionPolicy(keep_last=1)

    groups = decide(headers, policy, tz=UTC)

    assert [g.key for g in groups] == [{"host": "h1", "source": "fs:h1:/other"}, {"host": "h1", "source": "fs:h1:/src"},
                                       {"host": "h2", "source": "fs:h2:/src"}]
    assert [named(g) for g in groups] == [({"h1-other": ["last 1"]}, []), ({"h1-src": ["last 1"]}, ["h1-src-old"]),
                                          ({"h2-src": ["last 1"]}, ["h2-src-old"])]
    assert groups[1].label == "host h1 source fs:h1:/src"

    by_host = decide(headers, RetentionPolicy(keep_last=1, group_by=["host"]), tz=UTC)
    assert [list(named(g)[0]) for g in by_host] == [["h1-src"], ["h2-src"]]
    (whole,) = decide(headers, RetentionPolicy(keep_last=1, group_by=[]), tz=UTC)
    assert (whole.key, whole.label, list(named(whole)[0])) == ({}, "all snapshots", ["h1-src"])


def test_grouping_by_tags_puts_snapshots_with_the_same_tag_set_together() -> None:
    headers = [snap("x1", "2026-11-27T12:00", tags=("x",)), snap("x2", "2026-11-28T12:00", tags=("x",)),
               snap("xy", "2026-11-29T12:00", tags=("y", "x"))]

    groups = decide(headers, RetentionPolicy(keep_last=1, group_by="tags"), tz=UTC)

    assert [(g.key, named(g)) for g in groups] == [({"tags": "x"}, ({"x2": ["last 1"]}, ["x1"])),
                                                   ({"tags": "x,y"}, ({"xy": ["last 1"]}, []))]


# -- the policy itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [{}, {"keep_last": 0, "keep_daily": 0}, {"keep_within": "0d"},
                                    {"group_by": ["host"]}], ids=["nothing", "zero-counts", "zero-within", "grouping"])
def test_a_policy_without_a_keep_rule_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="no keep rule given"):
        decide([snap("a", "2026-11-29T12:00")], RetentionPolicy(**policy))


@pytest.mark.parametrize(("policy", "message"), [
    ({"keep_last": -1}, "keep_last must be a whole number"),
    ({"keep_daily": True}, "keep_daily must be a whole number"),
    ({"keep_weekly": "3"}, "keep_weekly must be a whole number"),
    ({"keep_tags": "keep"}, "keep_tags must be a list"),
    ({"keep_tags": None}, "keep_tags must be a list"),
    ({"keep_tags": [""]}, "keep tag '' is not a tag"),
    ({"keep_tags": ["a,,b"]}, "keep tag 'a,,b'"),
    ({"keep_within": "2x"}, "'2x' is not a duration"),
    ({"keep_within": ""}, "'' is not a duration"),
    ({"keep_within": "d"}, "'d' is not a duration"),
    ({"keep_within": "-1d"}, "'-1d' is not a duration"),
    ({"keep_within": "2d2d"}, "d is given twice"),
    ({"keep_within": 2}, "keep_within must be a duration"),
    ({"group_by": ["planet"]}, "cannot group snapshots by 'planet'"),
    ({"group_by": 3}, "group_by must name fields"),
], ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_a_bad_policy_field_is_a_config_error_that_names_it(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetentionPolicy(**policy)


@pytest.mark.parametrize(("text", "duration"), [
    ("2d3h", Duration(days=2, hours=3)), ("1y6m", Duration(years=1, months=6)), ("36h", Duration(hours=36)),
    ("1y2m3d4h", Duration(1, 2, 3, 4)),
])
def test_a_duration_reads_and_prints_in_restic_units(text: str, duration: Duration) -> None:
    assert Duration.parse(text) == duration
    assert str(duration) == text


def test_a_policy_round_trips_through_its_config_form() -> None:
    policy = RetentionPolicy(keep_last=3, keep_daily=7, keep_tags=["keep", "a,b"], keep_within="1y2d",
                             group_by=[])

    body = policy.to_mapping()

    assert body == {"keep_last": 3, "keep_daily": 7, "keep_tags": ["keep", "a,b"], "keep_within": "1y2d",
                    "group_by": "none"}
    assert RetentionPolicy.from_mapping(body) == policy
    assert RetentionPolicy(keep_daily=1).to_mapping() == {"keep_daily": 1}


@pytest.mark.parametrize(("body", "message"), [
    ({"keep_dayly": 7}, "policy 'p': unknown field 'keep_dayly'"),
    ({"keep_daily": "seven"}, "policy 'p': keep_daily must be a whole number"),
    ({"group_by": "host,planet"}, "policy 'p': cannot group snapshots by 'planet'"),
])
def test_a_bad_config_form_names_the_policy_and_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetentionPolicy.from_mapping(body, what="policy 'p'")


def test_given_fields_replace_those_of_a_policy_and_none_leaves_them() -> None:
    base = RetentionPolicy(keep_daily=7, keep_tags=["keep"])

    assert base.overridden(keep_daily=None, keep_last=2, keep_tags=["x"]) == RetentionPolicy(
        keep_daily=7, keep_last=2, keep_tags=["x"])


# -- on a store ----------------------------------------------------------------------------------------


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    return root


def backups(store: kloset.Store, src: Path, tags: list[str]) -> dict[str, str]:
    """One backup of ``src`` per tag; snapshot ID by tag."""
    return {t: store.backup(str(src), tags=[t], progress=False).id for t in tags}


def states(store: kloset.Store) -> int:
    return len(store.storage.list(ResourceType.STATE))


def test_prune_forgets_what_the_policy_does_not_keep_in_one_state(
        store: kloset.Store, store_path: Path, src: Path) -> None:
    ids = backups(store, src, ["t1", "t2", "t3", "t4", "t5"])
    before = states(store)

    report = store.prune(RetentionPolicy(keep_last=2, keep_tags=["t1"]))

    assert report.kept == [(ids["t5"], ["last 1"]), (ids["t4"], ["last 2"]), (ids["t1"], ["tag t1"])]
    assert report.removed == [ids["t3"], ids["t2"]]
    assert not report.dry_run
    assert states(store) == before + 1
    assert [s.id for s in store.snapshots()] == [ids["t1"], ids["t4"], ids["t5"]]
    with kloset.open(str(store_path)) as again:
        assert [s.tags for s in again.snapshots()] == [["t1"], ["t4"], ["t5"]]


def test_a_dry_run_decides_the_same_and_changes_nothing(store: kloset.Store, src: Path) -> None:
    ids = backups(store, src, ["t1", "t2", "t3"])
    before = states(store)

    report = store.prune(RetentionPolicy(keep_last=1), dry_run=True)

    assert report.dry_run and report.removed == [ids["t2"], ids["t1"]]
    assert states(store) == before
    assert sorted(s.id for s in store.snapshots()) == sorted(ids.values())


def test_prune_with_nothing_to_remove_writes_nothing(store: kloset.Store, src: Path) -> None:
    backups(store, src, ["t1", "t2"])
    before = states(store)

    assert store.prune(RetentionPolicy(keep_last=5)).removed == []
    assert states(store) == before


def test_prune_keeps_the_newest_of_each_source(store: kloset.Store, tmp_path: Path, src: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.txt").write_text("b\n")
    old_src, old_other = backups(store, src, ["s1"])["s1"], backups(store, other, ["o1"])["o1"]
    new_src, new_other = backups(store, src, ["s2"])["s2"], backups(store, other, ["o2"])["o2"]

    report = prune(store, RetentionPolicy(keep_last=1), tz=UTC)

    assert sorted(g.key["source"].rsplit(":", 1)[1] for g in report.groups) == [str(other), str(src)]
    assert sorted(report.removed) == sorted([old_src, old_other])
    assert sorted(s.id for s in store.snapshots()) == sorted([new_src, new_other])
