"""The snapshot browser: pick a snapshot, expand folders a page at a time, preview, restore a selection.

A folder is listed with :meth:`kloset.Snapshot.listdir`, which reads only the index pieces that hold the
folder's own entries, and a page of ``page_size`` entries becomes one button each: however large the
snapshot, the browser holds the rows the user opened and nothing else.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import ipywidgets as w

import kloset
from kloset.progress import human_bytes as _human

from .notice import message_html, reported_in, shown_in
from .preview import preview

# Font Awesome names, which every Jupyter front end ships (an emoji font is not always there).
_ICONS = {"dir": "folder", "file": "file-o", "symlink": "link"}


class _Node:
    """One entry shown in the tree: its button and, for a folder, the box its children are paged into."""

    def __init__(self, browser: SnapshotBrowser, entry: kloset.Entry, depth: int) -> None:
        self.entry = entry
        self.depth = depth
        self.open = False
        self.more: w.Button | None = None
        self.children: list[_Node] | None = None  # None until first expanded
        self.button = w.Button(description=self._label(), tooltip=entry.display_path, layout=browser._indent(depth),
                               style=browser._style, icon=_ICONS.get(entry.type, "circle-o"))
        self.button.on_click(lambda _: browser._clicked(self))
        self.kids = w.VBox(layout=browser._column)
        self.widget: w.Widget = w.VBox([self.button], layout=browser._column) if entry.is_dir else self.button

    def _label(self) -> str:
        arrow = ("▾ " if self.open else "▸ ") if self.entry.is_dir else ""
        return arrow + (self.entry.display_path.rsplit("/", 1)[-1] or "/")

    def relabel(self) -> None:
        self.button.description = self._label()


class SnapshotBrowser(w.VBox):
    """Browse a store's snapshots (or one snapshot): ``SnapshotBrowser(store)`` in a notebook cell."""

    def __init__(self, target: kloset.Store | kloset.Snapshot, *, page_size: int = 100) -> None:
        self.page_size = page_size
        self.snapshot: kloset.Snapshot | None = None
        self._store = target if isinstance(target, kloset.Store) else None
        self._snapshots: dict[str, kloset.Snapshot] = {target.id: target} if isinstance(target, kloset.Snapshot) else {}
        self._nodes: dict[str, _Node] = {}
        self._selected: list[str] = []
        self._findings: dict[str, list[dict[str, Any]]] | None = None
        self._style = w.ButtonStyle(button_color="transparent")
        self._picked_style = w.ButtonStyle(button_color="#cfe2f3")
        # Rows keep their height (flex "0 0 auto"): in the tree's scrolled box, a flex column would
        # otherwise shrink a few hundred rows to fit its height, each too thin to see.
        self._column = w.Layout(align_items="flex-start", flex="0 0 auto")
        self._indents: dict[int, w.Layout] = {}  # one layout per depth: widgets share them

        self.message = w.HTML()
        self.picker = w.Dropdown(description="Snapshot", layout=w.Layout(width="60%"))
        self.summary = w.HTML()
        self.tree = w.VBox(layout=w.Layout(width="45%", max_height="480px", overflow="auto",
                                           border="1px solid #ddd", align_items="flex-start"))
        self.details = w.HTML()
        self.findings = w.HTML()
        self.text_view, self.hex_view = w.HTML(), w.HTML()
        self.image_view = w.Image(layout=w.Layout(max_width="100%"))
        self.preview = w.Tab(children=[self.text_view, self.hex_view, self.image_view])
        for i, title in enumerate(("Text", "Hex", "Image")):
            self.preview.set_title(i, title)
        self.multi = w.ToggleButton(description="Multi-select", tooltip="clicks add to the selection")
        self.target = w.Text(placeholder="folder to restore into", layout=w.Layout(width="40%"))
        self.restore_button = w.Button(description="Restore selection", icon="download")
        self.status = w.HTML()
        self.restore_button.on_click(lambda _: self._restore_clicked())
        self.picker.observe(lambda ch: self._picked(ch["new"]), names="value")
        side = w.VBox([self.details, self.findings, self.preview], layout=w.Layout(width="55%"))
        super().__init__([self.message, w.HBox([self.picker, self.summary]), w.HBox([self.tree, side]),
                          w.HBox([self.multi, self.target, self.restore_button]), self.status])
        with self._guarded():
            snaps = self._store.snapshots() if self._store is not None else list(self._snapshots.values())
            self._snapshots = {s.id: s for s in snaps}
            self.picker.options = [(f"{s.short_id}  {s.timestamp:%Y-%m-%d %H:%M}  {s.header.hostname}:{s.root}",
                                    s.id) for s in reversed(snaps)]
            if not snaps:
                self._show(message_html(kloset.NotFound("the store has no snapshot yet")))
            else:  # opens the newest through the observer
                self.picker.value = snaps[-1].id

    # -- public ----------------------------------------------------------------------------------------

    @property
    def selected(self) -> list[str]:
        """The paths selected for restore, in the order they were picked."""
        return list(self._selected)

    def select_snapshot(self, ref: str) -> None:
        """Open a snapshot by ``latest`` or an ID prefix; a message in the widget when there is none."""
        with self._guarded():
            ids = [v for _, v in self.picker.options]  # newest first
            matches = ids[:1] if ref == "latest" else [i for i in ids if ref and i.startswith(ref.lower())]
            if not matches:
                raise kloset.NotFound(f"no snapshot {ref!r}")
            if len(matches) > 1:
                raise kloset.ConfigError(f"snapshot prefix {ref!r} is ambiguous ({len(matches)} snapshots)")
            self.picker.value = matches[0]

    def expand(self, path: str) -> None:
        """Open a folder (and the folders above it) in the tree."""
        with self._guarded():
            node = self._node(path)
            if not node.entry.is_dir:
                raise kloset.NotFound(f"{path} is not a folder")
            if not node.open:
                self._toggle(node)

    def collapse(self, path: str) -> None:
        node = self._nodes.get(path)
        if node is not None and node.open:
            self._toggle(node)

    def select(self, path: str, *, add: bool = False) -> None:
        """Select an entry: its details, findings and preview are shown; ``add`` keeps the others."""
        with self._guarded():
            self._select(self._node(path), add or self.multi.value)

    def shown(self, path: str) -> list[str]:
        """The names listed under an open folder, as far as its pages were loaded."""
        node = self._nodes.get(path)
        return [c.entry.name for c in node.children or []] if node is not None and node.open else []

    def restore(self, to: str | Path) -> kloset.RestoreReport | None:
        """Restore the selection (the whole snapshot when nothing is selected) into a folder."""
        self.target.value = str(to)
        return self._restore_clicked()

    # -- the tree --------------------------------------------------------------------------------------

    def _guarded(self) -> Any:
        return reported_in(self.message)

    def _show(self, message: str) -> None:
        self.message.value = message

    def _indent(self, depth: int) -> w.Layout:
        layout = self._indents.get(depth)
        if layout is None:
            layout = self._indents[depth] = w.Layout(width="auto", height="26px", flex="0 0 auto",
                                                                margin=f"0 0 0 {depth * 18}px")
        return layout

    def _picked(self, snapshot_id: str | None) -> None:
        with self._guarded():
            self.tree.children, self._nodes, self._selected, self._findings = (), {}, [], None
            self.details.value = self.findings.value = self.status.value = ""
            if snapshot_id is None:
                return
            snap = self.snapshot = self._snapshots[snapshot_id]
            s = snap.summary
            self.summary.value = (f"<span style='color:#555'>{s.files:,} files, {s.dirs:,} folders, "
                                  f"{_human(s.size)}</span>")
            root = _Node(self, snap.entry(), 0)
            self._nodes[root.entry.path] = root
            self.tree.children = (root.widget,)
            self._toggle(root)

    def _node(self, path: str) -> _Node:
        if self.snapshot is None:
            raise kloset.NotFound("no snapshot is open")
        node = self._nodes.get(path)
        if node is not None:
            return node
        root = self.snapshot.root.rstrip("/") or "/"
        parent = path.rsplit("/", 1)[0] or "/"
        if not path.startswith(root + "/") and path != root:
            raise kloset.NotFound(f"{path} is not below the snapshot's root {root}")
        above = self._node(parent)
        if not above.entry.is_dir:
            raise kloset.NotFound(f"{parent} is not a folder")
        if not above.open:
            self._toggle(above)
        while path not in self._nodes and above.more is not None:
            self._more(above)
        if path not in self._nodes:
            raise kloset.NotFound(f"{path}: no such entry in snapshot {self.snapshot.short_id}")
        return self._nodes[path]

    def _clicked(self, node: _Node) -> None:
        with self._guarded():
            if node.entry.is_dir:
                self._toggle(node)
            self._select(node, self.multi.value)

    def _toggle(self, node: _Node) -> None:
        if node.children is None:
            node.children = []
            self._page(node)
        node.open = not node.open
        node.relabel()
        node.widget.children = (node.button, node.kids) if node.open else (node.button,)

    def _page(self, node: _Node) -> None:
        """List the next page of a folder into its box, with a button for the page after when there is one."""
        assert self.snapshot is not None and node.children is not None
        after = node.children[-1].entry.name if node.children else None
        entries = self.snapshot.listdir(node.entry.path, after=after, limit=self.page_size + 1)
        fresh = [_Node(self, e, node.depth + 1) for e in entries[:self.page_size]]
        for c in fresh:
            self._nodes[c.entry.path] = c
        node.children.extend(fresh)
        # A box per page: a further page adds one child to the folder's box, not a page's worth, so that
        # clicking through a large folder costs the same for every page.
        pages = [c for c in node.kids.children if c is not node.more]
        rows: list[w.Widget] = [*pages, w.VBox([c.widget for c in fresh], layout=self._column)]
        node.more = None
        if len(entries) > self.page_size:
            node.more = w.Button(description=f"… {self.page_size} more", layout=self._indent(node.depth + 1),
                                 style=self._style, tooltip=f"the next entries of {node.entry.path}")
            node.more.on_click(lambda _: self._more_clicked(node))
            rows.append(node.more)
        node.kids.children = tuple(rows)

    def _more(self, node: _Node) -> None:
        self._page(node)

    def _more_clicked(self, node: _Node) -> None:
        with self._guarded():
            self._more(node)

    # -- details ---------------------------------------------------------------------------------------

    def _select(self, node: _Node, add: bool) -> None:
        path = node.entry.path
        if not add:
            for p in self._selected:
                if p in self._nodes:
                    self._nodes[p].button.style = self._style
            self._selected = []
        if path in self._selected:
            self._selected.remove(path)
            node.button.style = self._style
        else:
            self._selected.append(path)
            node.button.style = self._picked_style
        self._details(node.entry)

    def _details(self, entry: kloset.Entry) -> None:
        from .display import entry_html

        self.details.value = entry_html(entry)
        self.findings.value = ""
        self.text_view.value = self.hex_view.value = ""
        self.image_view.value = b""
        if entry.type != "file":
            return
        # Each part says its own failure, so a damaged content still shows the entry and its findings.
        with shown_in(lambda m: setattr(self.findings, "value", m)):
            self.findings.value = self._findings_html(entry)
        with shown_in(lambda m: setattr(self.text_view, "value", m)):
            assert self.snapshot is not None
            p = preview(self.snapshot, entry)
            self.text_view.value, self.hex_view.value = p.text_html, p.hex_html
            if p.image is not None:
                self.image_view.format = p.image_format
                self.image_view.value = p.image
            self.preview.selected_index = ("text", "hex", "image").index(p.kind)

    def _findings_html(self, entry: kloset.Entry) -> str:
        assert self.snapshot is not None
        if self._findings is None:
            # One read of the snapshot's analysis results, kept by object: they are small beside the index.
            # None stays the answer for a snapshot never analyzed.
            if not self.snapshot.analyses():
                return "<i>not analyzed</i>"
            self._findings = {}
            for row in self.snapshot.analysis_table("findings").to_pylist():
                if row.get("category") is not None:
                    self._findings.setdefault(row["object_id"].hex(), []).append(row)
        rows = self._findings.get(entry.object_id or "", [])
        if not rows:
            return "<i>no findings</i>"
        body = "".join(f"<tr><td>{html.escape(r['category'])}</td><td>{html.escape(str(r.get('sample') or ''))}"
                       f"</td><td>{r.get('count') or 1}</td><td>{float(r.get('confidence') or 0):.2f}</td></tr>"
                       for r in rows)
        return ("<b>Findings</b><table><tr><th>category</th><th>sample</th><th>count</th><th>confidence</th>"
                f"</tr>{body}</table>")

    # -- restore ---------------------------------------------------------------------------------------

    def _restore_clicked(self) -> kloset.RestoreReport | None:
        out: list[kloset.RestoreReport] = []
        with shown_in(lambda m: setattr(self.status, "value", m)):
            if self.snapshot is None:
                raise kloset.NotFound("no snapshot is open")
            if not self.target.value.strip():
                raise kloset.ConfigError("say which folder to restore into")
            last = [0.0]

            def progress(files: int, nbytes: int) -> None:
                now = time.monotonic()
                if now - last[0] > 0.2:
                    self.status.value = f"restoring… {files:,} entries, {_human(nbytes)}"
                    last[0] = now

            paths = self._selected or None
            report = self.snapshot.restore(self.target.value.strip(), paths, progress=progress)
            out.append(report)
            failed = (f", <b>{len(report.errors)} failed</b>: " + html.escape("; ".join(
                f"{p}: {e}" for p, e in report.errors[:5])) if report.errors else "")
            self.status.value = (f"restored {report.files:,} files, {report.dirs:,} folders, {_human(report.bytes)} "
                                 f"into {html.escape(self.target.value.strip())}{failed}")
        return out[0] if out else None

