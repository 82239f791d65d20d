"""E-mail addresses, validated with email-validator (syntax and domain rules, no network).

The scan looks for ``@`` and reads the address around it. Validation is memoised by domain: a
local part in the plain dot-atom form is one email-validator always accepts, so only the domain,
which a text repeats, goes through the validator; any other local part is validated whole.
"""

from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email

from .match import Hit

_DOMAIN = re.compile(r"@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"\.[A-Za-z]{2,63})(?![A-Za-z0-9-]|\.[A-Za-z0-9])")
#: The local parts recognised: those of the RFC's other characters (``=``, ``/``, ``'``...) that are
#: allowed mostly precede an address in text (``user=jane@...``), so an address does not start with them.
_LOCAL = re.compile(r"[A-Za-z0-9._%+-]{1,64}$")
#: The text up to the last character before an ``@`` that a local part of :data:`_LOCAL` cannot hold.
_LAST_OTHER = re.compile(r"(?s:.*[^A-Za-z0-9._%+-])")
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=4096)
def valid(address: str) -> bool:
    """Whether email-validator accepts ``address``, without asking the network."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def scan(text: str, ats: list[tuple[int, int]], out: list[Hit]) -> None:
    """Valid e-mail addresses around the ``@`` at each of ``ats``, appended to ``out``."""
    for at, _ in ats:
        m = _DOMAIN.match(text, at)
        if m is None:
            continue
        low = max(0, at - 64)
        if text[at - 1:at] == "\n":  # _LOCAL's "$" matches before a line end that closes the search: left to it
            local_m = _LOCAL.search(text, low, at)
            if local_m is None:
                continue
            local = local_m.group().lstrip(".")
        else:  # the local part starts after the last character it cannot hold: one match, not one a start
            other = _LAST_OTHER.match(text, low, at)
            local = text[other.end() if other is not None else low:at].lstrip(".")
        if not local:
            continue
        address = local + text[at:m.end()]
        if len(address) > 254:
            continue
        ok = valid("a" + text[at:m.end()]) if _DOT_ATOM.fullmatch(local) else valid(address)
        if ok:
            out.append(("email", address, at - len(local), m.end(), 0.99))
