"""A file's metadata survives the protocol's FileInfo, field for field."""

from __future__ import annotations

import stat

import pytest

from kloset.objects import FileInfo
from kloset.plugin.wire import file_info, file_info_message

MODES = [stat.S_IFREG | 0o644, stat.S_IFDIR | 0o755, stat.S_IFLNK | 0o777, stat.S_IFIFO | 0o600,
         stat.S_IFSOCK | 0o700, stat.S_IFBLK | 0o660, stat.S_IFCHR | 0o620, stat.S_IFREG | stat.S_ISUID | 0o755,
         stat.S_IFDIR | stat.S_ISGID | stat.S_ISVTX | 0o1777]


@pytest.mark.parametrize("mode", MODES, ids=oct)
def test_every_carried_field_comes_back_as_it_went(mode: int) -> None:
    # Every field a value of its own, so that two fields swapped on the way would show.
    info = FileInfo(name="naïve name", size=11, mode=mode, mtime_ns=1_700_000_000_123_456_789, dev=13, ino=17,
                    uid=19, gid=23, nlink=29, username="user", groupname="group")
    assert file_info(file_info_message(info)) == info


def test_what_the_protocol_cannot_carry_arrives_as_zero() -> None:
    info = FileInfo(name="f", ctime_ns=5, rdev=7)
    back = file_info(file_info_message(info))
    assert (back.ctime_ns, back.rdev) == (0, 0)
