"""Progress of long stages: a progress bar on a terminal, plain messages otherwise.

`steps(items, what, progress)` walks ``items`` (segments being set up or proven). When
stderr is a terminal it draws a tqdm bar (tqdm: a small, well-kept library that handles
terminal widths, rates and time estimates); otherwise it passes one line per item to the
caller's ``progress`` callback (None: silent), so logs and tests see plain text.

`Bar(total, what, progress)` does the same for work whose events arrive as they happen
rather than in order (segment tasks on a cluster, snarkgpt/cluster.py): on a terminal a bar
that advances on each finished unit and shows the latest event beside it, otherwise one line
per event through ``progress``.
"""
from __future__ import annotations

import sys

__all__ = ["Bar", "steps"]


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:             # pragma: no cover - a dependency, but degrade gracefully
        return None
    return tqdm


def steps(items, what: str, progress=None, describe=str, unit: str = "segment"):
    """Yield each of ``items``, reporting "what i/n (describe(item))" before it (``unit``:
    what the bar counts)."""
    items = list(items)
    n = len(items)
    if progress is not None and n > 1 and sys.stderr.isatty():
        tqdm = _tqdm()
        if tqdm is not None:
            bar = tqdm(items, desc=what, unit=unit, file=sys.stderr, leave=False)
            for item in bar:
                bar.set_postfix_str(describe(item))
                yield item
            return
    for i, item in enumerate(items):
        if progress is not None:
            progress(f"{what} {i + 1}/{n} ({describe(item)}) ...")
        yield item


class Bar:
    """Progress over ``total`` units reported as events: `event(message, done=..., status=...)`
    advances a tqdm bar on a terminal (by one when ``done``; ``status`` beside it, default the
    message), else passes ``message`` to ``progress``; `note(message)` prints a line that
    stays (above the bar on a terminal). ``progress`` None: silent. Close it (or use it in a
    ``with`` block) to remove the bar."""

    def __init__(self, total: int, what: str, progress=None, unit: str = "segment"):
        self.progress = progress
        self.bar = None
        if progress is not None and sys.stderr.isatty():
            tqdm = _tqdm()
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, leave=False)

    def event(self, message: str, done: bool = False, status: str | None = None) -> None:
        if self.bar is None:
            if self.progress is not None:
                self.progress(message)
            return
        self.bar.set_postfix_str(status if status is not None else message, refresh=False)
        if done:
            self.bar.update(1)
        self.bar.refresh()      # a few events a second at most: every one is shown

    def note(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        elif self.progress is not None:
            self.progress(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
