"""A dependency-free progress bar for the console commands (``demo``, ``bench``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             file: TextIO | None = None, width: int = 30) -> Iterator[T]:
    """Yield ``items``, drawing ``desc [#####.....] i/total  elapsed`` on ``file`` (stderr).

    The bar redraws in place on a terminal and prints one line per 10% elsewhere, so logs
    stay short.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> sum(progress(range(4), desc="sum", file=out))
    6
    >>> "4/4" in out.getvalue()
    True
    """
    out = sys.stderr if file is None else file
    items = list(items) if total is None and not hasattr(items, "__len__") else items
    n = len(items) if total is None else total  # type: ignore[arg-type]
    tty = getattr(out, "isatty", lambda: False)()
    start = time.perf_counter()
    last_decile = -1

    def draw(i: int) -> None:
        nonlocal last_decile
        filled = width * i // max(n, 1)
        line = (f"{desc} [{'#' * filled}{'.' * (width - filled)}] {i}/{n} "
                f"{time.perf_counter() - start:6.1f}s")
        if tty:
            out.write("\r" + line + ("\n" if i == n else ""))
        elif (decile := 10 * i // max(n, 1)) != last_decile or i == n:
            last_decile = decile
            out.write(line + "\n")
        out.flush()

    draw(0)
    for i, item in enumerate(items, 1):
        yield item
        draw(i)
