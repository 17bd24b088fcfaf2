"""Progress of a forward pass on stderr: a live bar on a terminal, plain lines in a log file.

A live bar redraws one line with control codes; written to a SLURM log (stderr not a TTY) it
shows nothing until the end. There a plain line is printed when the pass starts, every
``AUDITKIT_PROGRESS_SECONDS`` seconds (default 30) and when it ends, with images done / total,
images/s and the time left.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from typing import Callable, TextIO

from auditkit.errors import AuditError

PROGRESS_SECONDS_VARIABLE = "AUDITKIT_PROGRESS_SECONDS"
DEFAULT_PROGRESS_SECONDS = 30.0


def progress_interval() -> float:
    """Seconds between plain progress lines, from ``$AUDITKIT_PROGRESS_SECONDS``."""
    text = os.environ.get(PROGRESS_SECONDS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_PROGRESS_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise AuditError(f"{PROGRESS_SECONDS_VARIABLE}={text!r}: give the seconds between progress lines "
                         f"(e.g. 30; 0 = after every batch)")
    return seconds


def _duration(seconds: float) -> str:
    return str(dt.timedelta(seconds=round(seconds)))


class PlainProgress:
    """Plain progress lines for logs: at the start, at most every ``interval`` seconds, at the end."""

    def __init__(self, label: str, total: int, interval: float, stream: TextIO,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.label, self.total, self.interval, self.stream, self.clock = label, total, interval, stream, clock
        self.done = 0
        self.started = self.last = clock()
        self._say(f"forward {label}: {total} images")

    def _say(self, text: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {text}", file=self.stream, flush=True)

    def advance(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if now - self.last >= self.interval and self.done < self.total:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            rate = self.done / elapsed
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            self._say(f"forward {self.label}: {self.done}/{self.total} images ({100 * self.done / self.total:.1f} %), "
                      f"{rate:.1f} img/s, {_duration(left) if left != float('inf') else '?'} left")

    def finish(self) -> None:
        elapsed = max(self.clock() - self.started, 1e-9)
        state = "done" if self.done >= self.total else "stopped"
        self._say(f"forward {self.label}: {state}, {self.done}/{self.total} images in {_duration(elapsed)} "
                  f"({self.done / elapsed:.1f} img/s)")


class forward_progress:
    """``with forward_progress(label, total, enabled) as advance: ... advance(n)``: a rich bar with
    images/s when stderr is a terminal, plain lines when it is a file or pipe, nothing when disabled."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self._bar = None
        self._plain: PlainProgress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        if not sys.stderr.isatty():
            self._plain = PlainProgress(self.label, self.total, progress_interval(), sys.stderr)
            return self._plain.advance
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} img/s"), TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        task = self._bar.add_task(f"forward {self.label}", total=self.total, rate="-")
        start = time.perf_counter()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            rate = done / max(time.perf_counter() - start, 1e-9)
            self._bar.update(task, advance=n, rate=f"{rate:.1f}")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        if self._plain is not None:
            self._plain.finish()
