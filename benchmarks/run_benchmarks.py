"""Print the course's performance table: per-notebook run time and widget update time.

Usage: ``make bench`` (or ``python benchmarks/run_benchmarks.py [NOTEBOOK ...]``).

Each notebook is copied to a temporary folder (nothing is written inside the course) and
executed top to bottom in a fresh kernel, as "Restart & Run All" would. Then, in the same
kernel, every explorer the notebook made (any :class:`course_utils.learner.explorers.Explorer`)
is driven through its controls' values, as a learner dragging a slider would, and the time of
each redraw (compute + in-place figure update + PNG) is collected in the kernel.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

DRIVE_EXPLORERS = r"""
import json as _json
import numpy as _np
import ipywidgets as _w
from course_utils.learner.explorers import Explorer as _HE

def _sweep(control, n=20):
    if isinstance(control, _w.Dropdown):
        return [o[1] if isinstance(o, tuple) else o for o in control.options] * 3
    if isinstance(control, _w.Checkbox):
        return [True, False] * 5
    return list(_np.linspace(control.min, control.max, n))

_times = []
for _ex in [v for v in list(globals().values()) if isinstance(v, _HE)]:
    _ex.redraw()  # warm-up
    _ex.update_times_ms.clear()
    for _name, _control in _ex.controls.items():
        _start = _control.value
        for _v in _sweep(_control):
            _exact = isinstance(_control, (_w.Dropdown, _w.Checkbox))
            _control.value = _v if _exact else type(_start)(_v)
        _control.value = _start
    _times.extend(_ex.update_times_ms)
print("BENCH" + _json.dumps(_times))
"""


def run_notebook(path: Path) -> tuple[float, list[float]]:
    """Execute a copy of ``path``; return (seconds, widget redraw times in ms)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DRIVE_EXPLORERS))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, tmp)
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    times = json.loads(text.split("BENCH", 1)[1]) if "BENCH" in text else []
    return seconds, times


def main(argv: list[str]) -> int:
    notebooks = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print("| notebook | run time (s) | widget redraws | median (ms) | 95th pct (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for path in notebooks:
        seconds, times = run_notebook(path)
        if times:
            p95 = statistics.quantiles(times, n=20)[-1]
            stats = (f"{len(times)} | {statistics.median(times):.1f} | {p95:.1f} | "
                     f"{max(times):.1f}")
        else:
            stats = "0 | – | – | –"
        print(f"| {path.stem} | {seconds:.1f} | {stats} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
