"""Print the course's performance table: per-notebook run time and, per explorer, its redraw
time in the kernel and its latency in the browser.

Usage: ``make bench`` (or ``python benchmarks/run_benchmarks.py [--no-browser] [NOTEBOOK ...]``).

* **Kernel.** Each notebook is copied to a temporary folder (nothing is written inside the
  course) and executed top to bottom in a fresh kernel, as "Restart & Run All" would. Then,
  in the same kernel, every explorer the notebook made (any
  :class:`course_utils.learner.explorers.Explorer`, step-throughs included) is driven through
  its controls' values, as a learner dragging a slider would, and the time of each redraw
  (compute + in-place figure update + PNG) is collected.
* **Browser.** The browser test of every chapter (``tests/browser/test_lab.py``, in headless
  Chromium and a real JupyterLab) moves each control of each explorer a few times and back
  and measures, in the page, the time from the input event to the frame that paints the new
  picture (``tests/browser/explorer_latency.py``). Skipped, and said so, without Chromium.

The aims: a median redraw of at most 50 ms in the kernel (95th percentile 150 ms), and at
most 120 ms from input to painted picture in the browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
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
    # Values a hand would give the control: a dropdown's entries (three times), a slider's
    # steps (at most n of them, evenly spread; a log slider's are powers of its base).
    if isinstance(control, _w.Dropdown):
        return [o[1] if isinstance(o, tuple) else o for o in control.options] * 3
    if isinstance(control, _w.Checkbox):
        return [True, False] * 5
    steps = _np.arange(control.min, control.max + control.step / 2, control.step)
    steps = steps[_np.linspace(0, len(steps) - 1, min(n, len(steps))).round().astype(int)]
    if isinstance(control, _w.FloatLogSlider):
        return [float(control.base ** e) for e in steps]
    return [type(control.value)(v) for v in steps]

_found = {}  # id → [its name, the explorer, the execution count of the cell that shows it]
for _count, _value in dict(globals().get("Out", {})).items():   # a cell's last expression
    if isinstance(_value, _HE):
        _found.setdefault(id(_value), [None, _value, _count])
for _name, _value in list(globals().items()):
    if isinstance(_value, _HE) and not _name.startswith("_"):
        _record = _found.setdefault(id(_value), [None, _value, None])
        _record[0] = _record[0] or _name
_report = []
for _name, _ex, _count in _found.values():
    _ex.redraw()  # warm-up
    _ex.update_times_ms.clear()
    for _control in _ex.controls.values():
        _start = _control.value
        for _v in _sweep(_control):
            _control.value = _v
        _control.value = _start
    _report.append({"explorer": _name or _ex.kind, "kind": _ex.kind, "shown_in": _count,
                    "times": list(_ex.update_times_ms)})
print("BENCH" + _json.dumps(_report))
"""


def run_notebook(path: Path) -> tuple[float, list[dict]]:
    """Execute a copy of ``path``; return (seconds, one record per explorer: its variable
    name, kind and redraw times in ms)."""
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
    records = json.loads(text.split("BENCH", 1)[1]) if "BENCH" in text else []
    return seconds, records


def stats(times: list[float]) -> str:
    """``count | median | 95th percentile | max`` of ``times`` (ms), as table cells."""
    if not times:
        return "0 | – | – | –"
    p95 = statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]
    return f"{len(times)} | {statistics.median(times):.1f} | {p95:.1f} | {max(times):.1f}"


def explorer_cell(path: Path, record: dict) -> int:
    """The index of the cell that shows the explorer: the cell whose last expression it was
    (the notebook ran top to bottom, so execution count k is the k-th code cell), else the
    first cell that assigns its name; -1 when neither is known."""
    cells = nbformat.read(path, as_version=4).cells
    code = [i for i, cell in enumerate(cells) if cell.cell_type == "code"]
    if record.get("shown_in") and record["shown_in"] <= len(code):
        return code[record["shown_in"] - 1]
    assigns = re.compile(rf"^{re.escape(record['explorer'])}\s*=", re.MULTILINE)
    return next((i for i in code if assigns.search(cells[i].source)), -1)


def browser_latencies(notebooks: list[Path]) -> dict[tuple[str, int], list[float]] | str:
    """``{(notebook stem, cell index): latencies in ms}`` from the browser test, or why there
    are none."""
    if not (os.environ.get("CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser") or Path("/usr/bin/chromium").is_file()):
        return "not measured: no Chromium (Debian: apt install chromium)"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "latency.jsonl"
        chosen = " or ".join(path.stem for path in notebooks)
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
                   "-q", str(ROOT / "tests/browser/test_lab.py"),
                   "-k", f"test_chapter_in_jupyterlab and ({chosen})"]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                             env={**os.environ, "COURSE_LATENCY_REPORT": str(report)})
        if not report.is_file():
            return f"not measured: the browser test failed ({run.stdout.strip()[-300:]})"
        found: dict[tuple[str, int], list[float]] = {}
        for line in report.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[Path(record["notebook"]).stem, record["cell"]] = record["latencies_ms"]
    if run.returncode:
        print(f"(the browser test failed; its latencies are kept: {run.stdout.strip()[-300:]})")
    return found


def browser_stats(latencies: list[float] | None) -> str:
    """``moves | median | max`` of the browser latencies, as table cells."""
    if not latencies:
        return "– | – | –"
    return f"{len(latencies)} | {statistics.median(latencies):.0f} | {max(latencies):.0f}"


def main(argv: list[str]) -> int:
    browser = "--no-browser" not in argv
    args = [a for a in argv if a != "--no-browser"]
    notebooks = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    kernel = {path: run_notebook(path) for path in notebooks}
    latencies = browser_latencies(notebooks) if browser else "not measured (--no-browser)"
    print("| notebook | run time (s) | explorer | redraws | median (ms) | 95th pct (ms) | "
          "max (ms) | browser moves | browser median (ms) | browser max (ms) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for path, (seconds, records) in kernel.items():
        for i, record in enumerate(records or [{"explorer": "–", "kind": "", "times": []}]):
            run = f"{seconds:.1f}" if i == 0 else ""
            seen = latencies.get((path.stem, explorer_cell(path, record))) \
                if isinstance(latencies, dict) else None
            print(f"| {path.stem if i == 0 else ''} | {run} | `{record['explorer']}` "
                  f"| {stats(record['times'])} | {browser_stats(seen)} |", flush=True)
    if isinstance(latencies, str):
        print(f"\nBrowser latency {latencies}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
