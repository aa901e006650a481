"""Progress: a tqdm bar on a terminal, plain periodic log lines otherwise.

A bar redrawn with carriage returns is unreadable in a redirected log (``train.log``, a study's child process, a
CI log). :func:`progress_bar` draws tqdm's bar only when standard error is a terminal; elsewhere it returns a
:class:`LogProgress` that writes one ``logging`` line at every tenth of the work (and at the end), so that the
same loop reads well in both places. ``show=False`` shows nothing at all.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("gradedpr.progress")
LOG_FRACTION = 0.1
"""Without a terminal, one log line per this share of ``total`` (and one at the end)."""


def on_terminal() -> bool:
    """Whether standard error is an interactive terminal (where a redrawn bar belongs)."""
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


class LogProgress:
    """The part of tqdm's interface the loops use, as periodic ``logging`` lines (no carriage returns)."""

    def __init__(self, *, total: int | None, desc: str = "", unit: str = "it", initial: int = 0,
                 show: bool = True, fraction: float = LOG_FRACTION) -> None:
        self.total = total
        self.desc = desc or "progress"
        self.unit = unit
        self.n = initial
        self.show = show
        self.postfix = ""
        self._every = max(1, int((total or 0) * fraction)) if total else 0
        self._next = (initial // self._every + 1) * self._every if self._every else 0
        self._started = time.perf_counter()
        self._initial = initial
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.show and self._every and self.n >= self._next and (self.total is None or self.n < self.total):
            self._emit()
            while self._next <= self.n:
                self._next += self._every

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def _emit(self) -> None:
        elapsed = time.perf_counter() - self._started
        done = self.n - self._initial
        rate = f", {done / elapsed:.1f} {self.unit}/s" if elapsed > 0 and done > 0 else ""
        of = f"/{self.total}" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        log.info("%s: %d%s %s%s%s", self.desc, self.n, of, self.unit, rate, extra)

    def close(self) -> None:
        if not self._closed and self.show and self.n > self._initial:
            self._emit()
        self._closed = True

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(*, total: int | None, desc: str = "", unit: str = "it", show: bool = True, initial: int = 0,
                 **tqdm_kwargs: Any) -> Any:
    """A tqdm bar when ``show`` and standard error is a terminal, else a :class:`LogProgress` (silent when
    ``show`` is false). Both have ``update``, ``set_postfix`` and ``close``."""
    if show and on_terminal():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, **tqdm_kwargs)
    return LogProgress(total=total, desc=desc, unit=unit, initial=initial, show=show)


def logging_above_bars() -> AbstractContextManager[Any]:
    """Inside the block, log lines to the console go through ``tqdm.write`` when bars are drawn (so a line
    does not land in the middle of a bar); the log file's handler is left as it is."""
    return logging_redirect_tqdm() if on_terminal() else nullcontext()
