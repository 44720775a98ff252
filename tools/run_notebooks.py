"""Re-execute chapter notebooks top to bottom and save them with their outputs.

Usage: ``make notebooks`` (all chapters) or ``python tools/run_notebooks.py notebooks/01_*.ipynb``.

This is the maintainer's "Restart & Run All": a fresh kernel per notebook, execution counts
1..n, outputs saved in place. Widget *state* is not stored in the notebook: the saved outputs
already carry a static fallback (a PNG for every explorer, folded HTML for every quiz), which
GitHub and nbconvert show without a kernel, and the state would only add weight.

Each chapter runs as a new learner's would: in an empty home folder, so its last cell saves the
progress table of a course nobody has answered yet, kept where a learner's is
(``~/.local/share/attention-course/progress.json``), and no path of this machine.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path) -> float:
    """Execute the chapter at ``path`` in a fresh kernel, as a new learner, and save it."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    saved = dict(os.environ)
    os.environ.pop("COURSE_PROGRESS_FILE", None)          # the kernel inherits this environment
    os.environ.setdefault("MPLCONFIGDIR", str(Path.home() / ".config" / "matplotlib"))
    try:
        with tempfile.TemporaryDirectory(prefix="new-learner-") as home:
            os.environ["HOME"] = home
            start = time.perf_counter()
            client.execute()
            elapsed = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"{path.name}: executed in {run(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
