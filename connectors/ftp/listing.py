"""What an FTP server says of a directory's entries, read into FileInfo: MLSD's facts (RFC 3659), or,
from a server without MLSD, the Unix ``ls -l`` lines that most servers send for LIST.

Nothing here talks to a server.
"""

from __future__ import annotations

import calendar
import re
import stat
import time
from datetime import UTC, datetime, timedelta

from kloset.objects import FileInfo

#: One entry of a listing: its name, what is known of it, its symlink target, and an error when the
#: server's line could not be read (then ``info`` is None).
Entry = tuple[str, "FileInfo | None", str, "str | None"]

_DIR, _FILE, _LINK = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o644, stat.S_IFLNK | 0o777
_MLSD_TYPES = {"dir": _DIR, "file": _FILE, "os.unix=symlink": _LINK}
_SLINK = "os.unix=slink:"
_LS_TYPES = {"-": stat.S_IFREG, "d": stat.S_IFDIR, "l": stat.S_IFLNK, "p": stat.S_IFIFO, "s": stat.S_IFSOCK,
             "c": stat.S_IFCHR, "b": stat.S_IFBLK}
_LS = re.compile(
    r"(?P<type>[-dlpscb])(?P<perms>[-rwxsStTlL]{9})\S*\s+\d+\s+(?P<owner>\S+)\s+(?:(?P<group>\S+)\s+)?"
    r"(?P<size>\d+|\d+,\s*\d+)\s+(?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
# (position in rwxrwxrwx, bit it sets), then the letters that mean the special bit is set.
_PERMISSIONS = [(i, 1 << (8 - i)) for i in range(9)]
_SPECIAL = [(2, "sS", stat.S_ISUID), (5, "sS", stat.S_ISGID), (8, "tT", stat.S_ISVTX)]


def parse_facts(line: str) -> tuple[str, dict[str, str]]:
    """The name and the facts (keys in lower case) of one MLSD or MLST line."""
    facts_part, _, name = line.partition(" ")
    facts: dict[str, str] = {}
    for fact in facts_part.split(";"):
        key, eq, value = fact.partition("=")
        if eq:
            facts[key.lower()] = value
    return name, facts


def from_facts(name: str, facts: dict[str, str]) -> Entry | None:
    """The entry an MLSD line describes; None for the directory itself and its parent."""
    kind = facts.get("type", "file")
    target = ""
    if kind.lower() in ("cdir", "pdir") or name in (".", ".."):
        return None
    if kind.lower().startswith(_SLINK):
        mode, target = _LINK, kind[len(_SLINK):]
    elif kind.lower() in _MLSD_TYPES:
        mode = _MLSD_TYPES[kind.lower()]
    else:
        return name, None, "", f"the server lists it as {kind!r}, a type kloset does not read"
    try:
        if "unix.mode" in facts:
            mode = stat.S_IFMT(mode) | int(facts["unix.mode"], 8) & 0o7777
        info = FileInfo(name=name, size=int(facts.get("size", "0")), mode=mode,
                        mtime_ns=modify_ns(facts.get("modify", "")), uid=int(facts.get("unix.uid", "0")),
                        gid=int(facts.get("unix.gid", "0")), username=facts.get("unix.owner", ""),
                        groupname=facts.get("unix.group", ""))
    except ValueError:
        return name, None, "", f"unreadable facts from the server: {';'.join(f'{k}={v}' for k, v in facts.items())}"
    return name, info, target, None


def modify_ns(value: str) -> int:
    """Nanoseconds since the epoch of an RFC 3659 time (``YYYYMMDDHHMMSS[.sss]``, UTC); 0 when absent."""
    if not value:
        return 0
    whole, _, fraction = value.partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y%m%d%H%M%S"))
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9])


def parse_list(lines: list[str], now: datetime) -> list[Entry]:
    """The entries of a LIST answer in Unix ``ls -l`` form; a line of any other form is an error entry.

    Its times are those ``ls`` shows: to the minute for the last half year, else to the day (the
    importer asks MDTM for a file's exact time when the server has it)."""
    entries: list[Entry] = []
    for line in lines:
        if not line.strip() or line.startswith("total "):
            continue
        m = _LS.fullmatch(line)
        if m is None:
            entries.append((line.strip(), None, "", f"the server's listing line {line!r} is not in ls -l form"))
            continue
        name, target = m["name"], ""
        kind = _LS_TYPES[m["type"]]
        if kind == stat.S_IFLNK:
            name, _, target = name.partition(" -> ")
        if name in (".", ".."):
            continue
        size = 0 if "," in m["size"] else int(m["size"])
        info = FileInfo(name=name, size=size, mode=kind | _permission_bits(m["perms"]),
                        mtime_ns=_list_time(m["month"], int(m["day"]), m["when"], now),
                        username=m["owner"], groupname=m["group"] or "")
        entries.append((name, info, target, None))
    return entries


def _permission_bits(perms: str) -> int:
    bits = sum(bit for i, bit in _PERMISSIONS if perms[i] not in "-STlL")
    return bits | sum(bit for i, letters, bit in _SPECIAL if perms[i] in letters)


def _list_time(month: str, day: int, when: str, now: datetime) -> int:
    try:
        number = _MONTHS.index(month.lower()) + 1
        if ":" in when:
            hour, minute = (int(x) for x in when.split(":"))
            moment = datetime(now.year, number, day, hour, minute, tzinfo=UTC)
            if moment > now + timedelta(days=1):  # ls shows a time only for the last half year
                moment = moment.replace(year=now.year - 1)
        else:
            moment = datetime(int(when), number, day, tzinfo=UTC)
    except ValueError:
        return 0
    return calendar.timegm(moment.timetuple()) * 1_000_000_000
