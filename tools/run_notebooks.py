"""Re-execute chapter notebooks top to bottom and save them with their outputs.

Usage: ``make notebooks`` (all chapters) or ``python tools/run_notebooks.py notebooks/01_*.ipynb``.

This is the maintainer's "Restart & Run All": a fresh kernel per notebook, execution counts
1..n, outputs saved in place. Widget *state* is not stored in the notebook: the saved outputs
already carry a static fallback (a PNG for every explorer, folded HTML for every quiz), which
GitHub and nbconvert show without a kernel, and the state would only add weight.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"{path.name}: executed in {run(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
