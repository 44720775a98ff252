"""Small helpers the chapters share, so that a chapter's cells show its mechanism, not plumbing.

* :func:`best_time`     — seconds of the fastest of a few runs of a call (the timing cells);
* :func:`small`         — a rounding error, printed the same on every CPU (``"< 1e-06"``);
* :func:`length_table`  — exact match / token accuracy by source length, one row per model
  (chapters 02 and 10).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable, Mapping
from time import perf_counter

from ..foundations.checks import positive_int

__all__ = ["best_time", "small", "length_table"]


def best_time(fn: Callable[..., object], *args: object, repeat: int = 5,
              **kwargs: object) -> float:
    """Seconds taken by the fastest of ``repeat`` calls ``fn(*args, **kwargs)``.

    The fastest run is the one least disturbed by the rest of the machine. Each run is one
    call, timed with ``time.perf_counter`` by :class:`timeit.Timer` (which pauses the garbage
    collector while it times); what ``fn`` returns is dropped. Multiply by 1000 for ms.
    """
    positive_int("repeat", repeat)
    timer = timeit.Timer(lambda: fn(*args, **kwargs), timer=perf_counter)
    return min(timer.repeat(repeat=repeat, number=1))


def small(error: float, bound: float | str = 1e-6) -> str:
    """``error`` (e.g. a max abs difference) as text: ``"< bound"`` when it is below ``bound``,
    else the error itself to two digits (``"3.1e-05"``).

    Rounding errors differ between CPUs, so a saved output shows only that they are below the
    bound. A float bound prints as ``f"{bound:.0e}"`` (``1e-05`` → ``"< 1e-05"``); a string bound
    prints as written (``"1e-6"`` → ``"< 1e-6"``) and compares as ``float(bound)``.
    """
    text = bound if isinstance(bound, str) else f"{bound:.0e}"
    return f"< {text}" if error < float(bound) else f"{error:.1e}"


def length_table(results: Mapping[str, Mapping[str, tuple[float, float]]], title: str, *,
                 names: Mapping[str, str] | None = None, name_width: int | None = None,
                 label_width: int | None = None, exact_width: int = 7,
                 token_width: int = 4) -> str:
    """The table of exact match / token accuracy by source length, as printed text.

    Args:
        results: ``{model: {"lo–hi": (exact, token)}}``, fractions in [0, 1] (what
            ``evaluate_by_length`` returns, one entry per model); the columns are the first
            model's length buckets, in its order.
        title: the first line.
        names: how each model's row is labelled (default: its key).
        name_width: width of the row-label column (default: the longest label + 2).
        label_width: width of each column heading, right-aligned (default: a cell's width,
            ``exact_width + 3 + token_width``).
        exact_width, token_width: widths of the two percentages of a cell, ``"exact / token"``.

    Returns:
        The lines joined by newlines (no trailing newline): ``print`` it.
    """
    rows = {model: (names or {}).get(model, model) for model in results}
    if name_width is None:
        name_width = max(map(len, rows.values()), default=0) + 2
    if label_width is None:
        label_width = exact_width + 3 + token_width
    buckets = list(next(iter(results.values()), {}))
    lines = [title, " " * name_width + "".join(f"{b:>{label_width}s}" for b in buckets)]
    for model, row in rows.items():
        cells = [results[model][b] for b in buckets]
        lines.append(f"{row:{name_width}s}" + "".join(
            f"{exact:{exact_width}.0%} / {token:{token_width}.0%}" for exact, token in cells))
    return "\n".join(lines)
