"""The outcome of every injected fault, counted per kind and target, and the table the suite prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: How many wrong outcomes of one row are spelled out under the table (the count says the rest).
_SHOWN = 3


@dataclass
class Row:
    kind: str
    target: str
    injected: int = 0
    right: int = 0
    #: What went wrong, one line per wrong outcome.
    wrong: list[str] = field(default_factory=list)
    #: Faults that could not be injected here, and why (the row then says "skipped").
    skipped: str = ""
    #: Where the faults landed (e.g. which writes a killed run had made), counted.
    landed: Counter[str] = field(default_factory=Counter)

    @property
    def verdict(self) -> str:
        if self.skipped and not self.injected:
            return "skipped"
        return "ok" if self.right == self.injected and self.injected > 0 else "WRONG"


class Tally:
    """Rows in the order their first fault was recorded."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}

    def row(self, kind: str, target: str) -> Row:
        return self.rows.setdefault((kind, target), Row(kind, target))

    def record(self, kind: str, target: str, problems: list[str], what: str = "") -> None:
        """One fault injected; ``problems`` empty means its outcome was the right one."""
        row = self.row(kind, target)
        row.injected += 1
        if problems:
            row.wrong.append(f"{what}: {'; '.join(problems)}" if what else "; ".join(problems))
        else:
            row.right += 1

    def landed(self, kind: str, target: str, where: str) -> None:
        self.row(kind, target).landed[where] += 1

    def skip(self, kind: str, target: str, why: str) -> None:
        self.row(kind, target).skipped = why

    @property
    def ok(self) -> bool:
        return all(r.verdict != "WRONG" for r in self.rows.values())

    def wrong(self) -> list[str]:
        """Every wrong outcome, as ``kind / target: what``."""
        return [f"{r.kind} / {r.target}: {w}" for r in self.rows.values() for w in r.wrong]

    def injected(self, kind: str) -> int:
        return sum(r.injected for r in self.rows.values() if r.kind == kind)

    def table(self) -> str:
        head = ("fault", "target", "injected", "right", "verdict")
        cells = [head] + [(r.kind, r.target, str(r.injected), str(r.right), r.verdict) for r in self.rows.values()]
        widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i < 2 or i == 4 else c.rjust(w) for i, (c, w) in
                           enumerate(zip(cell, widths, strict=True))).rstrip() for cell in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        total_injected = sum(r.injected for r in self.rows.values())
        total_right = sum(r.right for r in self.rows.values())
        lines.append(f"{total_injected} faults injected, {total_right} with the right outcome: "
                     + ("all right" if self.ok else "SOME WRONG"))
        for r in self.rows.values():
            if r.landed:
                spread = ", ".join(f"{n} {where}" for where, n in r.landed.most_common())
                lines.append(f"{r.kind} / {r.target}: landed: {spread}")
            if r.skipped:
                lines.append(f"{r.kind} / {r.target}: skipped: {r.skipped}")
            for w in r.wrong[:_SHOWN]:
                lines.append(f"{r.kind} / {r.target}: wrong: {w}")
            if len(r.wrong) > _SHOWN:
                lines.append(f"{r.kind} / {r.target}: {len(r.wrong) - _SHOWN} more wrong")
        return "\n".join(lines)
