"""Progress of long stages: a progress bar on a terminal, plain messages otherwise.

`steps(items, what, progress)` walks ``items`` (segments being set up or proven). When
stderr is a terminal it draws a tqdm bar (tqdm: a small, well-kept library that handles
terminal widths, rates and time estimates); otherwise it passes one line per item to the
caller's ``progress`` callback (None: silent), so logs and tests see plain text.
"""
from __future__ import annotations

import sys

__all__ = ["steps"]


def steps(items, what: str, progress=None, describe=str, unit: str = "segment"):
    """Yield each of ``items``, reporting "what i/n (describe(item))" before it (``unit``:
    what the bar counts)."""
    items = list(items)
    n = len(items)
    if progress is not None and n > 1 and sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:         # pragma: no cover - a dependency, but degrade gracefully
            tqdm = None
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
