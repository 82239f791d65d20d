"""How a store, a snapshot and an entry show themselves in a notebook: plain HTML strings.

``Store._repr_html_`` and its kin call these through the ``widgets`` viewer, so they need no ipywidgets and
must never raise for data the store cannot give: a part that reads the store and fails is replaced by the
failure's message, and the rest of the display still shows.
"""

from __future__ import annotations

import html
import stat
from collections.abc import Callable, Iterable
from datetime import datetime

import kloset
from kloset.progress import human_bytes

from .notice import message_html

LATEST_ROWS = 20  # snapshots listed in a store's display, newest first

# Notebooks right-align table cells by default; the rule is scoped to these displays' own class.
_BOX = ('<div class="kloset-view kloset-{kind}"><style>.kloset-view th, .kloset-view td {{text-align:left;'
        'padding:1px 10px 1px 0;vertical-align:top}}</style>{body}</div>')


def _esc(value: object) -> str:
    return html.escape(str(value))


def _size(n: int) -> str:
    """A byte count for people, with the exact count on hover: the one way sizes are shown here."""
    return f'<span title="{n:,} bytes">{_esc(human_bytes(n))}</span>'


def _time(t: datetime) -> str:
    return _esc(f"{t:%Y-%m-%d %H:%M:%S} UTC")


def _fields(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of name and value; values come as HTML already escaped."""
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _grid(head: list[str], rows: Iterable[list[str]]) -> str:
    """A table with a header row; cells come as HTML already escaped."""
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _part(render: Callable[[], str]) -> str:
    """One part of a display; the store's failure to give its data becomes a message in its place."""
    try:
        return render()
    except kloset.KlosetError as e:
        return message_html(e)


def _title(text: str) -> str:
    return f'<div style="font-weight:bold;margin:6px 0 2px">{_esc(text)}</div>'


def _tags(tags: list[str]) -> str:
    return _esc(", ".join(tags)) if tags else "–"


# -- store ------------------------------------------------------------------------------------------------


def store_html(store: kloset.Store) -> str:
    """A store: where it is, whether it is encrypted, its sizes and its latest snapshots."""
    head = _fields([("location", _esc(store.location)),
                    ("encryption", "encrypted" if store.encrypted else "plaintext (not encrypted)")])
    return _BOX.format(kind="store", body=_title("kloset store") + head + _part(lambda: _store_contents(store)))


def _store_contents(store: kloset.Store) -> str:
    snaps = store.snapshots()
    info = store.info()
    logical = sum(s.summary.size for s in snaps)
    stored = int(info["size"])
    count = f"{len(snaps):,}"
    # The index lists snapshots whose header no longer reads: say so rather than hide them silently.
    unreadable = int(info["snapshots"]) - len(snaps)
    if unreadable > 0:
        count += f" ({unreadable:,} more unreadable: see <code>kloset check</code>)"
    ratio = f"{logical / stored:.2f}×" if snaps and stored else "–"
    totals = _fields([("snapshots", count), ("logical size", _size(logical)), ("stored size", _size(stored)),
                      ("dedup + compression", _esc(ratio))])
    if not snaps:
        return totals + "<p>No snapshot yet.</p>"
    latest = snaps[::-1][:LATEST_ROWS]
    rows = [[f'<code title="{_esc(s.id)}">{_esc(s.short_id)}</code>', _time(s.timestamp), _esc(s.header.hostname),
             _esc(s.root), f"{s.summary.files:,}", _size(s.summary.size), _tags(s.tags)] for s in latest]
    table = _grid(["id", "time", "host", "root", "files", "size", "tags"], rows)
    hidden = len(snaps) - len(latest)
    more = f"<p>{hidden:,} older snapshot{'s' if hidden != 1 else ''} not shown.</p>" if hidden else ""
    return totals + _title(f"latest snapshots ({len(latest)} of {len(snaps):,})") + table + more


# -- snapshot ---------------------------------------------------------------------------------------------


def snapshot_html(snap: kloset.Snapshot) -> str:
    """A snapshot: who took it of what and when, what it holds, and the data classes found in it."""
    h = snap.header
    pairs = [("id", f"<code>{_esc(snap.id)}</code>"), ("time", _time(snap.timestamp)), ("host", _esc(h.hostname)),
             ("user", _esc(h.username)), ("source", _esc(f"{h.importer_type}:{snap.root}")), ("tags", _tags(snap.tags))]
    pairs += [(label, _esc(value)) for label, value in (("name", h.name), ("category", h.category),
                                                         ("environment", h.environment), ("perimeter", h.perimeter),
                                                         ("job", h.job)) if value]
    s = snap.summary
    summary = _fields([("files", f"{s.files:,}"), ("dirs", f"{s.dirs:,}"), ("symlinks", f"{s.symlinks:,}"),
                       ("errors", f"{s.errors:,}"), ("size", _size(s.size)), ("stored", _size(s.stored)),
                       ("new chunks", f"{s.new_chunks:,}"), ("reused files", f"{s.reused_files:,}")])
    body = (_title(f"kloset snapshot {snap.short_id}") + _fields(pairs) + _title("summary") + summary
            + _title("data classes") + _part(lambda: _data_classes(snap)))
    return _BOX.format(kind="snapshot", body=body)


def _data_classes(snap: kloset.Snapshot) -> str:
    analyses = snap.analyses()
    if not analyses:
        return "<p>not analyzed (<code>kloset analyze</code> or <code>backup --analyze</code>)</p>"
    analyzers = sorted({a for x in analyses for a in x["analyzers"]})
    by = f'<p style="margin:0">analyzed by {_esc(", ".join(analyzers))}</p>'
    classes = snap.data_classes()
    if not classes:
        return by + "<p>nothing found</p>"
    return by + _grid(["data class", "files"], ([_esc(c), f"{n:,}"] for c, n in classes.items()))


# -- entry ------------------------------------------------------------------------------------------------


def entry_html(entry: kloset.Entry) -> str:
    """One entry of a snapshot with its metadata."""
    oid = entry.object_id
    pairs = [("path", f"<code>{_esc(entry.display_path)}</code>"), ("type", _esc(entry.type)),
             ("size", _size(entry.size)), ("mode", f"<code>{_esc(stat.filemode(entry.mode))}</code>"),
             ("modified", _time(entry.mtime)), ("owner", _esc(f"{entry.user or '?'}:{entry.group or '?'}")),
             ("content type", _esc(entry.content_type or "–")),
             ("object", f'<code title="{_esc(oid)}">{_esc(oid[:16])}</code>' if oid else "–")]
    if entry.target:
        pairs.append(("target", f"<code>{_esc(entry.target)}</code>"))
    return _BOX.format(kind="entry", body=_fields(pairs))
