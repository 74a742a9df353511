"""Progress displays for long steps, the one helper every command uses: a ``rich`` display on
stderr with a line per step, shown only when stderr is a terminal (so tests, pipes and logs
stay clean).

>>> with Steps() as steps:                                      # doctest: +SKIP
...     with steps.step("golden model", total=360) as bar:
...         bar()                                   # one more done
...         bar.update(description="golden model (digit 2)", total=400)

:func:`progress` is one step on its own, :func:`status` a spinner with the elapsed time.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import final

__all__ = ["Bar", "Steps", "progress", "status"]


def _shown(show: bool | None) -> bool:
    return sys.stderr.isatty() if show is None else show


class Bar:
    """One step's line: call it to advance, :meth:`update` to change its text or size. A bar
    of a display that is not shown does nothing."""

    def __init__(self, display=None, task=None):
        self._display, self._task = display, task

    def __call__(self, n: int = 1, description: str | None = None) -> None:
        """``n`` more done (and a new text, if given)."""
        if self._display is not None:
            self._display.update(self._task, advance=n,
                                 **({} if description is None else {"description": description}))

    def update(self, *, description: str | None = None, total: int | None = None,
               completed: int | None = None) -> None:
        if self._display is not None:
            fields = {"description": description, "total": total, "completed": completed}
            self._display.update(self._task, **{k: v for k, v in fields.items()
                                                if v is not None})


@final
class Steps:
    """A display with a line per step: spinner, text, bar, count and elapsed time.

    Parameters
    ----------
    show : show it; by default when stderr is a terminal.
    bars : draw the bar and count columns (steps of unknown size need only the spinner).
    """

    def __init__(self, show: bool | None = None, *, bars: bool = True):
        self._display = None
        if _shown(show):
            from rich import progress as rp
            from rich.console import Console

            columns = [rp.SpinnerColumn(), rp.TextColumn("{task.description}")]
            if bars:
                columns += [rp.BarColumn(), rp.MofNCompleteColumn()]
            columns.append(rp.TimeElapsedColumn())
            self._display = rp.Progress(*columns, console=Console(stderr=True),
                                        transient=True)

    def __enter__(self) -> Steps:
        if self._display is not None:
            self._display.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._display is not None:
            self._display.stop()

    @contextlib.contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Bar]:
        """A line for one step, full when the step ends."""
        if self._display is None:
            yield Bar()
            return
        task = self._display.add_task(description, total=total)
        try:
            yield Bar(self._display, task)
        finally:
            size = self._display.tasks[task].total or 1
            self._display.update(task, completed=size, total=size)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No display of ours meanwhile (a step that shows its own)."""
        if self._display is not None:
            self._display.stop()
        try:
            yield
        finally:
            if self._display is not None:
                self._display.start()


@contextlib.contextmanager
def progress(label: str, total: int | None = None, *, show: bool | None = None,
             bars: bool = True) -> Iterator[Bar]:
    """One step labelled ``label`` of ``total`` (a spinner and a count if None)."""
    with Steps(show, bars=bars) as steps, steps.step(label, total) as bar:
        yield bar


@contextlib.contextmanager
def status(label: str, *, show: bool | None = None) -> Iterator[Bar]:
    """A spinner with ``label`` and the elapsed time while the body runs."""
    with progress(label, show=show, bars=False) as bar:
        yield bar
