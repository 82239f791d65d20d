"""What a widget shows instead of a traceback when an operation fails."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import kloset

# Errors the user can act on are said in their own words; anything else is named with its type, so that
# a widget never leaves a traceback in the cell, yet a bug still says what it was.
_KIND = {
    kloset.NotFound: "Not found",
    kloset.IntegrityError: "Damaged data",
    kloset.AuthenticationError: "Access refused",
    kloset.TransientError: "Unreachable",
    kloset.QueryError: "Query error",
    kloset.ConfigError: "Configuration",
    kloset.LockError: "Store busy",
    kloset.Unsupported: "Not supported",
}


def message_html(exc: BaseException) -> str:
    """A one-box HTML message for a failure, fit for a widget's HTML output."""
    if isinstance(exc, KeyboardInterrupt):
        title, text = "Interrupted", "the operation was stopped; the store is as it was before"
    else:
        title = next((t for cls, t in _KIND.items() if isinstance(exc, cls)), None) or (
            "Error" if isinstance(exc, kloset.KlosetError) else f"Unexpected {type(exc).__name__}")
        text = str(exc) or type(exc).__name__
    return (f'<div class="kloset-notice" style="border-left:4px solid #c0392b;padding:4px 8px;'
            f'background:#fdf2f2"><b>{html.escape(title)}:</b> {html.escape(text)}</div>')


def reported_in(area: Any) -> Any:
    """:func:`shown_in` for a widget's message area (anything with a ``value``, an ``ipywidgets.HTML``),
    cleared first: what a widget's action says replaces what the previous one said."""
    area.value = ""
    return shown_in(lambda m: setattr(area, "value", m))


@contextmanager
def shown_in(show: Callable[[str], Any]) -> Iterator[None]:
    """Run a block; a failure in it is passed to ``show`` as :func:`message_html` instead of raised.

    ``show`` is typically ``lambda m: setattr(html_widget, "value", m)``. Interrupts are shown too: a
    widget callback that lets KeyboardInterrupt through leaves a traceback in the cell."""
    try:
        yield
    except (Exception, KeyboardInterrupt) as e:
        show(message_html(e))
