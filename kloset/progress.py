"""Progress bars for long operations: tqdm.auto (a widget in Jupyter, text on a terminal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressFn = Callable[[int, int], None]


@contextmanager
def bar(progress: bool | ProgressFn | None, desc: str, unit: str = "file") -> Iterator[ProgressFn | None]:
    """Yield a progress callback: the caller's own, a tqdm bar when ``progress`` is True, or None."""
    if progress is None or progress is False:
        yield None
        return
    if callable(progress):
        yield progress
        return
    from tqdm.auto import tqdm

    with tqdm(desc=desc, unit=unit, unit_scale=True, leave=False, mininterval=0.25) as t:
        last = [0, 0]

        def update(done: int, nbytes: int) -> None:
            if done - last[0] >= 64 or nbytes - last[1] >= 8 << 20:
                t.update(done - last[0])
                t.set_postfix_str(f"{nbytes / 1e6:,.0f} MB", refresh=False)
                last[0], last[1] = done, nbytes

        yield update
        t.update(last[0] and 0)
