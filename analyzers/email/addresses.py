"""The addresses a mailbox's headers name: validated, counted and placed, then reported masked."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from kloset.analyzer import Finding, mask

from .kind import header_end

CATEGORY = "email"
CONFIDENCE = 0.99


@dataclass
class _Seen:
    sample: str
    offset: int
    count: int = 0


class AddressTally:
    """Counts each valid address once per occurrence, keyed case-blind, placed where it first appears."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def add(self, addresses: list[str], raw: bytes, offset: int) -> None:
        """Count ``addresses``, read from the message ``raw`` that starts at byte ``offset`` of the content.

        A new address is placed where it first stands in ``raw`` (as written, or in another case), or
        at 0 when it cannot be found there (an address written in another form: punycode, a comment)."""
        lowered: bytes | None = None
        for address in addresses:
            key = _normalized(address)
            if key is None:
                continue
            seen = self._seen.get(key)
            if seen is None:
                if lowered is None:  # the header block only: a body can be large
                    lowered = raw[:header_end(raw)].lower()
                at = lowered.find(address.lower().encode("utf-8", "replace"))
                seen = self._seen[key] = _Seen(mask(address), offset + at if at >= 0 else 0)
            seen.count += 1

    def findings(self) -> list[Finding]:
        """One finding per address, in the order they were first counted."""
        return [Finding(CATEGORY, s.sample, s.offset, CONFIDENCE, s.count) for s in self._seen.values()]


@lru_cache(maxsize=1 << 16)
def _normalized(address: str) -> str | None:
    """The address's normalized form (IDN domain decoded), lowercased; None when it is not valid.

    Cached: a mailbox names the same few addresses over and over, and validating is the costly part."""
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None
