"""Progress bars that show in interactive use and stay quiet in tests and builds.

Set ``EMBEDKIT_PROGRESS=0`` to silence them (the Makefile does, so that stored
notebook outputs do not contain bars), ``EMBEDKIT_PROGRESS=1`` to force them.
By default a bar shows when standard error is a terminal or inside IPython.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm  # the text bar: works in terminals and notebooks without ipywidgets

T = TypeVar("T")


def enabled() -> bool:
    """Whether progress bars are shown right now."""
    flag = os.environ.get("EMBEDKIT_PROGRESS", "").strip()
    if flag in {"0", "1"}:
        return flag == "1"
    return sys.stderr.isatty() or "IPython" in sys.modules


def progress(iterable: Iterable[T], total: int | None = None, desc: str | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar when `enabled`, else return it unchanged."""
    if not enabled():
        return iter(iterable)
    return iter(tqdm(iterable, total=total, desc=desc, leave=False))
