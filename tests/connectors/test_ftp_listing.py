"""Reading FTP listings: MLSD facts and LIST's ls -l lines, as servers other than pyftpdlib send them."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest

from kloset.connectors.ftp.listing import from_facts, modify_ns, parse_facts, parse_list
from kloset.objects import EntryType

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def seconds(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_mlsd_facts_give_type_size_time_mode_and_owner() -> None:
    line = "Type=file;Size=1234;Modify=20240102030405.5;UNIX.mode=0640;unix.uid=1000;unix.gid=100;unix.owner=ann; a b"
    entry = from_facts(*parse_facts(line))
    assert entry is not None
    name, info, target, error = entry
    assert (name, target, error) == ("a b", "", None)
    assert info is not None
    assert (info.size, info.mode, info.uid, info.gid, info.username) == (1234, stat.S_IFREG | 0o640, 1000, 100, "ann")
    assert info.mtime_ns == seconds(2024, 1, 2, 3, 4, 5) + 500_000_000


def test_mlsd_modes_in_python_octal_form_are_read() -> None:
    entry = from_facts(*parse_facts("type=dir;unix.mode=0o2755; d"))
    assert entry is not None and entry[1] is not None
    assert entry[1].mode == stat.S_IFDIR | 0o2755


def test_mlsd_symlinks_keep_their_target() -> None:
    entry = from_facts(*parse_facts("type=OS.unix=slink:/Some/Target;size=11; l"))
    assert entry is not None and entry[1] is not None
    assert (entry[1].type, entry[2]) == (EntryType.SYMLINK, "/Some/Target")


def test_mlsd_current_and_parent_directory_entries_are_skipped() -> None:
    assert from_facts(*parse_facts("type=cdir;modify=20240102030405; /x")) is None
    assert from_facts(*parse_facts("type=pdir;modify=20240102030405; ..")) is None


@pytest.mark.parametrize("line", ["type=OS.unix=blockdev;size=0; sda", "type=file;size=big; f",
                                  "type=file;modify=yesterday; f"])
def test_mlsd_entries_that_cannot_be_read_are_errors(line: str) -> None:
    entry = from_facts(*parse_facts(line))
    assert entry is not None
    assert entry[1] is None and entry[3]


def test_modify_without_a_value_is_zero() -> None:
    assert modify_ns("") == 0


def test_ls_lines_give_types_modes_sizes_and_names() -> None:
    lines = [
        "total 12",
        "drwxr-sr-x    2 ann  staff      4096 Jan 02 03:04 my dir",
        "-rwsr-xr-T    1 ann  staff      1234 Jan 02  2019 setuid",
        "lrwxrwxrwx    1 ann  staff         6 Feb 29 10:00 link -> target file",
        "crw-rw-rw-    1 root root     1,   3 Mar 01  2020 null",
        "prw-r-----    1 1000 1000          0 Dec 31 23:59 fifo",
        "-rw-r--r--    1 ann              5 Jan 02  2019 no-group",
        "drwxr-xr-x    2 ann  staff      4096 Jan 02 03:04 .",
    ]
    found = {name: (info, target, error) for name, info, target, error in parse_list(lines, NOW)}
    assert set(found) == {"my dir", "setuid", "link", "null", "fifo", "no-group"}
    modes = {name: info.mode for name, (info, _, _) in found.items() if info is not None}
    assert modes == {"my dir": stat.S_IFDIR | 0o2755, "setuid": stat.S_IFREG | 0o5754, "link": stat.S_IFLNK | 0o777,
                     "null": stat.S_IFCHR | 0o666, "fifo": stat.S_IFIFO | 0o640, "no-group": stat.S_IFREG | 0o644}
    assert found["link"][1] == "target file"
    info = found["my dir"][0]
    assert info is not None and (info.username, info.groupname, info.size) == ("ann", "staff", 4096)
    assert info.mtime_ns == seconds(2024, 1, 2, 3, 4)
    setuid = found["setuid"][0]
    assert setuid is not None and (setuid.size, setuid.mtime_ns) == (1234, seconds(2019, 1, 2))


def test_ls_times_without_a_year_are_within_the_last_year() -> None:
    found = {name: info for name, info, _, _ in parse_list(["prw-r-----    1 u g 0 Dec 31 23:59 fifo"], NOW)}
    assert found["fifo"] is not None and found["fifo"].mtime_ns == seconds(2023, 12, 31, 23, 59)


def test_ls_lines_of_another_form_are_error_entries() -> None:
    [(_, info, _, error)] = parse_list(["03-10-24  12:00PM       <DIR>          windows"], NOW)
    assert info is None and error is not None and "ls -l" in error
