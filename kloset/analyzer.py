"""The analyzer interface: what reads a file's content and says what is in it.

Analyzers are found by name through the ``kloset.analyzers`` entry-point group, so a third-party
package can add its own. One analyzer instance reads one content object: it is fed the content in
pieces, in order (:meth:`Analyzer.feed`), then asked for its result (:meth:`Analyzer.finish`), and
may keep whatever state it needs in between. Results are keyed by (name, version, object ID): content
held under many paths, snapshots or sources is analyzed once, and a new ``version`` of an analyzer
analyzes everything again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Finding:
    """One kind of personal data found in a content object."""

    #: What was found: ``email``, ``phone``, ``credit_card``, ``iban``, ``special:health``...
    category: str
    #: An example of it, masked (``j***@example.com``): never the value itself unless asked for.
    sample: str
    #: The byte offset, in the content, of the first occurrence.
    offset: int
    #: How sure the analyzer is, from 0 to 1 (checksummed identifiers near 1, context hints lower).
    confidence: float
    #: How many occurrences the content holds.
    count: int = 1


@dataclass
class Analysis:
    """What an analyzer says of one content object."""

    findings: list[Finding] = field(default_factory=list)
    #: Labels for the whole content (``contains:email``, ``mime:message/rfc822``...).
    tags: list[str] = field(default_factory=list)
    #: Structured data the analyzer extracts (an e-mail's headers), or None.
    record: dict[str, Any] | None = None


class Analyzer(ABC):
    """Reads one content object, in order, and reports on it. Subclasses set ``name`` and ``version``."""

    #: The name users select it by (``kloset backup --analyze NAME``) and its entry point's name.
    name: ClassVar[str]
    #: Bumped whenever the analyzer could say something different of the same bytes.
    version: ClassVar[int]
    #: The content types it reads, as patterns (``text/*``, ``message/rfc822``); empty means all.
    content_types: ClassVar[tuple[str, ...]] = ()
    #: Content past this many bytes is not fed (None: everything).
    max_bytes: ClassVar[int | None] = None
    #: The analysis table its records add rows to (``emails``: see docs/format.md), or None.
    table: ClassVar[str | None] = None

    def __init__(self, options: dict[str, str] | None = None, *, content_type: str = "", path: str = "") -> None:
        """``content_type`` and ``path`` are the snapshot index's, of the first path holding the content:
        hints for how to read it (CSV or JSON, one message or an mbox), never part of the result's key."""
        self.options = dict(options or {})
        self.content_type = content_type
        self.path = path

    @classmethod
    def wants(cls, content_type: str, path: str = "") -> bool:
        """Whether content of this type (as the snapshot's index has it) is worth reading."""
        if not cls.content_types:
            return True
        return any(fnmatch.fnmatchcase(content_type, pattern) for pattern in cls.content_types)

    @classmethod
    def key(cls, options: dict[str, str] | None = None) -> str:
        """The part of a result's key that names the analyzer: ``name@version``, and a digest of the
        options when there are any, since they may change what it says (``gdpr@3+1a2b3c4d``)."""
        base = f"{cls.name}@{cls.version}"
        if not options:
            return base
        return f"{base}+{hashlib.blake2s(json.dumps(sorted(options.items())).encode(), digest_size=4).hexdigest()}"

    @classmethod
    def rows(cls, record: Any) -> list[dict[str, Any]]:
        """The rows of :attr:`table` that one of its records stands for, by column name (columns a row
        lacks are null; dates may be ISO 8601 strings or aware datetimes)."""
        return []

    @abstractmethod
    def feed(self, data: bytes) -> None:
        """The next piece of the content."""

    @abstractmethod
    def finish(self) -> Analysis:
        """The result, once all of the content (or ``max_bytes`` of it) has been fed."""


def mask(value: str, *, keep_start: int = 1, keep_end: int = 0, fill: str = "***") -> str:
    """``value`` with all but its first ``keep_start`` and last ``keep_end`` characters hidden.

    An e-mail address keeps its first character and its domain (``j***@example.com``); a value too
    short to hide anything in is hidden whole."""
    if "@" in value and keep_start == 1 and keep_end == 0:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}{fill}@{domain}" if local else f"{fill}@{domain}"
    if len(value) <= keep_start + keep_end:
        return fill
    return value[:keep_start] + fill + (value[-keep_end:] if keep_end else "")
