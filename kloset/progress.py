"""Progress bars for long operations: tqdm.auto (a widget in Jupyter, text on a terminal).

Every long operation reports through one callback, ``progress(items done, bytes done)``, both counts
since the start. A caller passes its own callback, True for a bar, or False/None for nothing;
``KLOSET_PROGRESS=0`` in the environment turns every bar off (a callback still gets its calls).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressFn = Callable[[int, int], None]

_EVERY = 0.1  # seconds between two redraws: a callback per file must not cost a redraw per file


@contextmanager
def bar(progress: bool | ProgressFn | None, desc: str, *, unit: str = "file", total_items: int | None = None,
        total_bytes: int | None = None) -> Iterator[ProgressFn | None]:
    """Yield a progress callback: the caller's own, a tqdm bar when ``progress`` is True, or None.

    The bar counts bytes (with rate and, given ``total_bytes``, ETA) and shows the items beside them;
    for ``unit="pack"`` it counts the items, which are then few and large. Totals are what the operation
    knows or estimates beforehand (a backup takes them from the previous snapshot of the same source);
    a total that the counts pass is dropped rather than shown above 100%."""
    if progress is None or progress is False:
        yield None
        return
    if callable(progress):
        yield progress
        return
    if os.environ.get("KLOSET_PROGRESS", "").strip().lower() in ("0", "false", "no", "off"):
        yield None
        return
    from tqdm.auto import tqdm

    by_bytes = unit == "file"
    # A terminal bar goes once done; a notebook's stays, as the cell's record of what was done.
    leave = any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)
    t = tqdm(desc=desc, total=(total_bytes if by_bytes else total_items) or None, leave=leave, dynamic_ncols=True,
             unit="B" if by_bytes else unit, unit_scale=by_bytes, unit_divisor=1024 if by_bytes else 1000)
    state = [0.0, 0, 0, total_items or 0]  # last redraw, items, bytes, items expected (0: unknown)

    def draw() -> None:
        main, side = (state[2], state[1]) if by_bytes else (state[1], state[2])
        if (t.total is not None and main > t.total) or state[1] > state[3] > 0:
            t.total, state[3] = None, 0  # an estimate the work outgrew says nothing any more
        t.update(main - t.n)
        of = f"/{state[3]:,}" if state[3] else ""
        t.set_postfix_str(f"{side:,}{of} {unit}s" if by_bytes else human_bytes(side), refresh=False)

    def update(done: int, nbytes: int) -> None:
        state[1], state[2] = done, nbytes
        now = time.monotonic()
        if now - state[0] >= _EVERY:
            state[0] = now
            draw()

    try:
        yield update
        draw()
        t.refresh()  # the final counts, whatever the time since the last redraw
    finally:
        t.close()


def human_bytes(n: float) -> str:
    """A byte count as people read it: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    size = float(n)
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            return f"{size:,.0f} {suffix}" if suffix == "B" else f"{size:,.1f} {suffix}"
        size /= 1024
    return f"{size:,.1f} PiB"
