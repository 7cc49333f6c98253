"""Progress bars that suit where stderr goes: a tqdm bar on a terminal; elsewhere (a log file, a
pipe, CI) plain lines, one every 10 % of the way, never a carriage return."""
from __future__ import annotations

import sys
import time
from typing import Any, Optional


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """The part of tqdm's interface the trainer uses, writing whole lines to ``file``."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", file: Any = None, every: float = 0.1) -> None:
        self.total, self.n, self.desc = int(total), int(initial), desc
        self.file = file if file is not None else sys.stderr
        self._step = max(1, int(round(self.total * every))) if self.total > 0 else 1
        self._next = (self.n // self._step + 1) * self._step
        self._postfix = ""
        self._start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self._next or self.n == self.total:
            self._next = (self.n // self._step + 1) * self._step
            self._write()

    def set_postfix(self, values: Optional[dict] = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(values or {}), **kwargs}
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def _write(self) -> None:
        elapsed = time.perf_counter() - self._start
        tail = f" [{self._postfix}]" if self._postfix else ""
        print(f"{self.desc}: {self.n}/{self.total} ({elapsed:.0f} s){tail}", file=self.file, flush=True)

    def close(self) -> None:
        """Nothing to release: every line was written and flushed as it came (tqdm's interface)."""

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int, *, initial: int = 0, desc: str = "", enabled: bool = True, file: Any = None) -> Any:
    """A tqdm bar when ``enabled`` and ``file`` (default stderr) is a terminal, else line progress
    (``enabled``) or a silent stand-in (not ``enabled``)."""
    stream = file if file is not None else sys.stderr
    if enabled and _is_terminal(stream):
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, file=stream)
    bar = LineProgress(total, initial, desc, stream)
    if not enabled:
        bar._write = lambda: None  # type: ignore[method-assign]
    return bar
