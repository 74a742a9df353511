"""Progress displays for long command-line steps: a ``rich`` bar or spinner on stderr, shown only
when stderr is a terminal (so tests, pipes and logs stay clean).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["progress", "status"]


def _shown(show: bool | None) -> bool:
    return sys.stderr.isatty() if show is None else show


@contextlib.contextmanager
def progress(label: str, total: int | None = None, *,
             show: bool | None = None) -> Iterator[Callable[..., None]]:
    """A bar of ``total`` steps (a spinner and a count if None) labelled ``label``; yields
    ``advance(n=1, description=None)``, which also renames the bar when given a description."""
    if not _shown(show):
        yield lambda n=1, description=None: None
        return
    from rich import progress as rp
    from rich.console import Console

    columns = [rp.SpinnerColumn(), rp.TextColumn("{task.description}"), rp.BarColumn(),
               rp.MofNCompleteColumn(), rp.TimeElapsedColumn()]
    with rp.Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            if description is None:
                bar.advance(task, n)
            else:
                bar.update(task, advance=n, description=description)

        yield advance


@contextlib.contextmanager
def status(label: str, *, show: bool | None = None) -> Iterator[None]:
    """A spinner with ``label`` and the elapsed time while the body runs."""
    if not _shown(show):
        yield
        return
    from rich import progress as rp
    from rich.console import Console

    columns = [rp.SpinnerColumn(), rp.TextColumn("{task.description}"), rp.TimeElapsedColumn()]
    with rp.Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        bar.add_task(label, total=None)
        yield
