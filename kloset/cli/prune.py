"""kloset prune: forget the snapshots a retention policy does not keep, and say why each kept one stays.

The policy is given by keep flags, by ``--policy NAME`` (a policy saved in the user's config, which flags
given beside it override), or both; ``--save-policy NAME`` saves the policy the flags make instead of
pruning. Forgotten snapshots' data stays in the store until ``kloset maintenance``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from kloset.lifecycle.retention import PERIODS, PruneReport, RetentionGroup, RetentionPolicy, parse_group_by

from . import render
from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    for period in PERIODS:
        what = "the N newest snapshots" if period == "last" else \
            f"the newest snapshot of each of the N newest {_PERIOD_NOUNS[period]} that have one"
        parser.add_argument(f"--keep-{period}", type=int, metavar="N", help=f"keep {what}")
    parser.add_argument("--keep-tag", action="append", metavar="T[,T]",
                        help="keep every snapshot with this tag (with all of these tags; repeatable)")
    parser.add_argument("--keep-within", metavar="D",
                        help="keep every snapshot newer than D before the newest of its group (e.g. 2d3h, 1y6m)")
    parser.add_argument("--group-by", metavar="FIELDS",
                        help="apply the policy to each group of snapshots with the same host, source, tags "
                             "(a comma-separated list, or none; default: host,source)")
    parser.add_argument("--policy", metavar="NAME", help="start from the policy saved under NAME")
    parser.add_argument("--save-policy", metavar="NAME",
                        help="save the policy under NAME in the user's config, and prune nothing")
    parser.add_argument("-n", "--dry-run", action="store_true", help="say what would be removed, remove nothing")


_PERIOD_NOUNS = {"hourly": "hours", "daily": "days", "weekly": "weeks", "monthly": "months", "yearly": "years"}


def policy_of(args: argparse.Namespace) -> RetentionPolicy:
    """The policy the flags name: the saved one, if any, with the flags given beside it in its place."""
    flags: dict[str, Any] = {f"keep_{p}": getattr(args, f"keep_{p}") for p in PERIODS}
    flags.update(keep_tags=args.keep_tag, keep_within=args.keep_within,
                 group_by=None if args.group_by is None else parse_group_by(args.group_by))
    base = RetentionPolicy.named(args.policy) if args.policy else RetentionPolicy()
    policy = base.overridden(**flags)
    policy.check()
    return policy


def run(args: argparse.Namespace, context: Context) -> int:
    policy = policy_of(args)
    if args.save_policy:
        replaced = policy.save(args.save_policy)
        print(f"{'replaced' if replaced else 'saved'} policy {args.save_policy}: {describe(policy)}")
        return 0
    with context.open_store() as store:
        times = {s.id: s.timestamp for s in store.snapshots()}
        report = store.prune(policy, dry_run=args.dry_run)
    render.write_lines(report_lines(report, times))
    return 0


def describe(policy: RetentionPolicy) -> str:
    """A policy in the words of its flags: ``--keep-daily 7 --keep-tag keep``."""
    words: list[str] = []
    for key, value in policy.to_mapping().items():
        flag = "--" + key.replace("_", "-").removesuffix("s")
        for v in value if isinstance(value, list) else [value]:
            words += [flag, str(v)]
    return " ".join(words)


def report_lines(report: PruneReport, times: dict[str, datetime]) -> list[str]:
    """Per group: a table of the kept snapshots with their reasons, then the removed ones."""
    lines: list[str] = []
    for group in report.groups:
        lines += _group_lines(group, times, report.dry_run)
        lines.append("")
    removed, kept = _snapshots(len(report.removed)), _snapshots(len(report.kept))
    lines.append(f"would remove {removed}, keep {kept} (dry run: nothing was changed)" if report.dry_run
                 else f"removed {removed}, kept {kept}")
    return lines


def _group_lines(group: RetentionGroup, times: dict[str, datetime], dry_run: bool) -> list[str]:
    def when(sid: str) -> str:
        t = times.get(sid)
        return render.local_time(t) if t is not None else "-"

    lines = [f"{group.label}: keep {len(group.kept)}, {'would remove' if dry_run else 'remove'} "
             f"{len(group.removed)}"]
    if group.kept:
        rows = [[sid[:8], when(sid), ", ".join(reasons)] for sid, reasons in group.kept]
        lines += render.table(rows, header=["ID", "time", "kept because"])
    if group.removed:
        lines.append(f"{'would remove' if dry_run else 'removed'}:")
        lines += render.table([[sid[:8], when(sid)] for sid in group.removed])
    return lines


def _snapshots(n: int) -> str:
    return f"{n} snapshot{'s' if n != 1 else ''}"
