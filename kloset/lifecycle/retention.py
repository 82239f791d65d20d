"""Retention policies: which snapshots a policy keeps and why, with restic's ``forget`` semantics.

Snapshots are split into groups (by default one per host and source), and each group is walked newest
first. A snapshot is kept when a rule claims it:

- ``keep_last N``: the N newest snapshots;
- ``keep_hourly/daily/weekly/monthly/yearly N``: the newest snapshot of each of the N newest hours,
  days, ISO weeks, months or years that have one (in local time); when a rule still has counts left
  at the group's oldest snapshot, that snapshot is kept too, so the history kept is as long as the
  counts allow;
- ``keep_tags``: every snapshot that has all the tags of one of the entries (``"a,b"``: both);
- ``keep_within D``: every snapshot newer than D before the group's newest snapshot (not now).

Every other snapshot of the group is removed. A policy with no rule keeps nothing and is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from ..config import Policies
from ..errors import ConfigError
from ..snapshot.header import Header

if TYPE_CHECKING:
    from ..store import Store

#: What snapshots may be grouped by: the machine, the source (importer type, origin and root), the tags.
GROUP_FIELDS = ("host", "source", "tags")
DEFAULT_GROUP_BY = ("host", "source")

#: The counted rules, oldest-reaching last, as restic evaluates them.
PERIODS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION = re.compile(r"(\d+)([ymdh])")
_UNITS = {"y": "years", "m": "months", "d": "days", "h": "hours"}


@dataclass(frozen=True)
class Duration:
    """A span in calendar units, as restic's ``--keep-within`` takes it: ``1y2m3d4h``.

    Years, months and days move the calendar (a month back from 31 March is 3 March, as Go's
    ``AddDate`` has it); hours are exact."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        spec = text.strip()
        parts = _DURATION.findall(spec)
        if not spec or "".join(n + u for n, u in parts) != spec:
            raise ConfigError(f"{text!r} is not a duration: write numbers with units y, m, d, h, "
                              "as in 2d3h or 1y6m")
        counts: dict[str, int] = {}
        for number, unit in parts:
            name = _UNITS[unit]
            if name in counts:
                raise ConfigError(f"{text!r} is not a duration: {unit} is given twice")
            counts[name] = int(number)
        return cls(**counts)

    def __str__(self) -> str:
        text = "".join(f"{n}{u}" for u, n in (("y", self.years), ("m", self.months), ("d", self.days),
                                               ("h", self.hours)) if n)
        return text or "0h"

    @property
    def zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours)

    def before(self, when: datetime, tz: tzinfo | None = None) -> datetime:
        """The moment this span before ``when``, a wall-clock time of ``tz`` (None: this machine's
        zone), in UTC."""
        months = when.year * 12 + when.month - 1 - self.years * 12 - self.months
        day = date(months // 12, months % 12 + 1, 1) + timedelta(days=when.day - 1 - self.days)
        wall = datetime.combine(day, when.time())
        # A naive time's astimezone() takes it as this machine's local time, with that day's offset.
        start = wall.astimezone() if tz is None else wall.replace(tzinfo=tz)
        return start.astimezone(UTC) - timedelta(hours=self.hours)


@dataclass(frozen=True)
class RetentionPolicy:
    """Which snapshots to keep; the rest of each group is forgotten by :meth:`kloset.Store.prune`.

    A count of 0 or None leaves its rule out. ``keep_tags`` entries are tags, or comma-separated tag
    lists that a snapshot must all have. ``keep_within`` is a :class:`Duration` text (``2d3h``).
    ``group_by`` names the fields of :data:`GROUP_FIELDS` that split snapshots into groups; empty:
    the store's snapshots are one group."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_tags: Sequence[str] = field(default_factory=list)
    keep_within: str | None = None
    group_by: Sequence[str] = DEFAULT_GROUP_BY

    def __post_init__(self) -> None:
        for period in PERIODS:
            n = getattr(self, f"keep_{period}")
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
                raise ConfigError(f"keep_{period} must be a whole number of snapshots, 0 or more (not {n!r})")
        tags = self.keep_tags
        if isinstance(tags, str) or not isinstance(tags, Sequence) or not all(isinstance(t, str) for t in tags):
            raise ConfigError("keep_tags must be a list of tags")
        object.__setattr__(self, "keep_tags", [_tag_list(t) for t in self.keep_tags])
        if self.keep_within is not None:
            if not isinstance(self.keep_within, str):
                raise ConfigError(f"keep_within must be a duration such as 2d3h (not {self.keep_within!r})")
            Duration.parse(self.keep_within)
        object.__setattr__(self, "group_by", _group_by(self.group_by))

    @property
    def within(self) -> Duration | None:
        d = Duration.parse(self.keep_within) if self.keep_within is not None else None
        return d if d is not None and not d.zero else None

    def count(self, period: str) -> int:
        return getattr(self, f"keep_{period}") or 0

    @property
    def empty(self) -> bool:
        return not self.keep_tags and self.within is None and not any(self.count(p) for p in PERIODS)

    def check(self) -> None:
        """ConfigError when the policy has no keep rule (it would remove every snapshot)."""
        if self.empty:
            raise ConfigError("no keep rule given: a policy needs at least one of keep-last, keep-hourly, "
                              "keep-daily, keep-weekly, keep-monthly, keep-yearly (above 0), keep-tag or "
                              "keep-within")

    def to_mapping(self) -> dict[str, Any]:
        """The policy as the config file keeps it: only the rules it has, and a grouping that differs
        from the default."""
        out: dict[str, Any] = {f"keep_{p}": self.count(p) for p in PERIODS if self.count(p)}
        if self.keep_tags:
            out["keep_tags"] = list(self.keep_tags)
        if self.keep_within is not None:
            out["keep_within"] = self.keep_within
        if tuple(self.group_by) != DEFAULT_GROUP_BY:
            out["group_by"] = ",".join(self.group_by) or "none"
        return out

    @classmethod
    def from_mapping(cls, body: Mapping[str, Any], *, what: str = "policy") -> RetentionPolicy:
        """A policy from its config-file form; ConfigError naming ``what`` and the field at fault."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ConfigError(f"{what}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**body)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from e

    @classmethod
    def named(cls, name: str) -> RetentionPolicy:
        """The policy saved under ``name`` in the user's config (``policies.yaml``)."""
        policies = Policies()
        return cls.from_mapping(policies.get(name), what=f"{policies.path}: policy {name!r}")

    def save(self, name: str) -> bool:
        """Save this policy under ``name`` in the user's config; True when it replaced one."""
        self.check()
        return Policies().save(name, self.to_mapping())

    def overridden(self, **changes: Any) -> RetentionPolicy:
        """This policy with the given fields replaced (those given as None are left as they are)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def parse_group_by(text: str) -> tuple[str, ...]:
    """``host,source`` as a tuple of group fields; ``none`` (or nothing) for one group."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return () if names == ["none"] else _group_by(names)


def _group_by(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        return parse_group_by(names)
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"group_by must name fields to group snapshots by, such as host,source (not {names!r})")
    for n in names:
        if n not in GROUP_FIELDS:
            raise ConfigError(f"cannot group snapshots by {n!r} (by any of {', '.join(GROUP_FIELDS)}, or none)")
    return tuple(dict.fromkeys(names))


def _tag_list(text: str) -> str:
    tags = [t.strip() for t in text.split(",")]
    if not all(tags):
        raise ConfigError(f"keep tag {text!r} is not a tag or a comma-separated list of tags")
    return ",".join(tags)


# -- the decision -------------------------------------------------------------------------------------


@dataclass
class RetentionGroup:
    """What a policy decided for one group of snapshots, newest first: kept (ID, reasons) and removed IDs."""

    key: dict[str, str]
    kept: list[tuple[str, list[str]]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return " ".join(f"{k} {v or '-'}" for k, v in self.key.items()) or "all snapshots"


@dataclass
class PruneReport:
    """The decision of :meth:`kloset.Store.prune`, group by group, and whether it was carried out."""

    groups: list[RetentionGroup]
    dry_run: bool = False

    @property
    def kept(self) -> list[tuple[str, list[str]]]:
        return [k for g in self.groups for k in g.kept]

    @property
    def removed(self) -> list[str]:
        return [r for g in self.groups for r in g.removed]


def group_key(header: Header, group_by: Iterable[str]) -> dict[str, str]:
    values = {"host": lambda: header.hostname,
              "source": lambda: f"{header.importer_type}:{header.importer_origin}:{header.importer_root}",
              "tags": lambda: ",".join(sorted(header.tags))}
    return {name: values[name]() for name in group_by}


def decide(headers: Iterable[Header], policy: RetentionPolicy, *, tz: tzinfo | None = None,
           now_ns: int | None = None) -> list[RetentionGroup]:
    """Apply a policy to snapshot headers: the groups in key order, each with what it keeps and why.

    Period boundaries are those of ``tz`` (default: this machine's time zone). ``now_ns`` is the
    present: ``keep_within`` counts back from the newest snapshot that is not in the future."""
    policy.check()
    groups: dict[tuple[tuple[str, str], ...], list[Header]] = {}
    for h in headers:
        key = group_key(h, policy.group_by)
        groups.setdefault(tuple(key.items()), []).append(h)
    return [_decide_group(dict(key), members, policy, tz, now_ns) for key, members in sorted(groups.items())]


def _decide_group(key: dict[str, str], headers: list[Header], policy: RetentionPolicy, tz: tzinfo | None,
                  now_ns: int | None) -> RetentionGroup:
    # Newest first; snapshots of the same instant in ID order, so that the decision does not depend on
    # the order the store lists them in.
    headers = sorted(headers, key=lambda h: (-h.timestamp_ns, h.id))
    counts = {p: policy.count(p) for p in PERIODS}
    last_bucket: dict[str, str | None] = dict.fromkeys(PERIODS)
    within = policy.within
    since = _within_start(headers, within, tz, now_ns) if within is not None else None
    tag_lists = [(t, set(t.split(","))) for t in policy.keep_tags]
    group = RetentionGroup(key)
    for nr, h in enumerate(headers):
        reasons = [f"tag {text}" for text, tags in tag_lists if tags <= set(h.tags)]
        if within is not None and (since is None or h.timestamp_ns > since):
            reasons.append(f"within {within}")
        when = _wall(h.timestamp_ns, tz)
        for period in PERIODS:
            if counts[period] <= 0:
                continue
            bucket = str(nr + 1) if period == "last" else _bucket(period, when)
            oldest = nr == len(headers) - 1
            if bucket != last_bucket[period] or oldest:
                # A rule with counts left at the oldest snapshot keeps it, even in a period it already
                # has one of: the history kept reaches as far back as it can.
                reasons.append(f"{period} {bucket}" + (" (oldest)" if bucket == last_bucket[period] else ""))
                last_bucket[period] = bucket
                counts[period] -= 1
        if reasons:
            group.kept.append((h.id.hex(), reasons))
        else:
            group.removed.append(h.id.hex())
    return group


def _bucket(period: str, when: datetime) -> str:
    if period == "hourly":
        return when.strftime("%Y-%m-%d %H:00")
    if period == "daily":
        return when.strftime("%Y-%m-%d")
    if period == "weekly":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return when.strftime("%Y-%m")
    return f"{when.year}"


def _within_start(headers: list[Header], within: Duration, tz: tzinfo | None, now_ns: int | None) -> int | None:
    """The instant (ns) after which ``keep_within`` keeps; None when every snapshot is in the future."""
    now = time.time_ns() if now_ns is None else now_ns
    latest = max((h.timestamp_ns for h in headers if h.timestamp_ns < now), default=None)
    if latest is None:
        return None
    start = within.before(_wall(latest, tz), tz)
    # datetime holds microseconds: the nanoseconds below them are carried over as they were.
    return (start - _EPOCH) // timedelta(microseconds=1) * 1000 + latest % 1000


def _wall(ns: int, tz: tzinfo | None) -> datetime:
    """The aware wall-clock time of an instant in ``tz`` (None: this machine's zone)."""
    return (_EPOCH + timedelta(microseconds=ns // 1000)).astimezone(tz)


# -- carrying it out ----------------------------------------------------------------------------------


def prune(store: Store, policy: RetentionPolicy, *, dry_run: bool = False, tz: tzinfo | None = None,
          now_ns: int | None = None) -> PruneReport:
    """Decide with :func:`decide` over every snapshot of the store and, unless ``dry_run``, forget the
    removed ones in one transaction (one state)."""
    headers = [s.header for s in store.snapshots()]
    report = PruneReport(decide(headers, policy, tz=tz, now_ns=now_ns), dry_run=dry_run)
    if report.removed and not dry_run:
        store.rm(*report.removed)
    return report
