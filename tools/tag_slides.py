"""Give every chapter's cells their slide metadata, so that each chapter presents as a slideshow
(JupyterLab + jupyterlab-rise: *View → Render as slideshow*, or ``alt-r``) with its widgets
live, and ``jupyter nbconvert --to slides`` makes a deck of it.

The rules, the same for every chapter (a later chapter follows them by running this tool):

* the title cell and every ``## `` section opens a **slide**; a ``### `` subsection and every
  other text cell opens a **subslide**, and the code after it stays on that subslide (``-``);
* **skipped** in the slideshow (kept in the notebook): the set-up cell (the first code cell),
  code longer than ``LONG_CODE`` lines, the exercises' solutions (a ``<details>`` cell) and the
  "Your progress" section.

Usage: ``python tools/tag_slides.py`` (rewrites the metadata) or ``--check`` (exit 1 and list
the cells whose metadata differ; the tests run it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LONG_CODE = 30


def slide_types(cells: list) -> list[str]:
    """The slide type of every cell: ``slide``, ``subslide``, ``-`` or ``skip``."""
    types = []
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    skipping = False  # inside the "Your progress" section
    for i, cell in enumerate(cells):
        text = cell.source.lstrip()
        if cell.cell_type == "markdown":
            if text.startswith("## "):
                skipping = text.startswith("## Your progress")
            if skipping or text.startswith("<details>"):
                types.append("skip")
            elif i == 0 or text.startswith(("# ", "## ")):
                types.append("slide")
            else:
                types.append("subslide")
        elif skipping or i == first_code or len(cell.source.splitlines()) > LONG_CODE:
            types.append("skip")
        else:
            types.append("-")
    return types


def chapters() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    wrong = []
    for path in chapters():
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for index, (cell, kind) in enumerate(zip(notebook.cells, slide_types(notebook.cells),
                                                 strict=True)):
            if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
                wrong.append(f"{path.name} cell {index}: should be {kind!r}")
                cell.metadata["slideshow"] = {"slide_type": kind}
                changed = True
        if changed and not check:
            nbformat.write(notebook, path)
    if check and wrong:
        print("slide metadata out of date (run python tools/tag_slides.py):", *wrong[:20],
              sep="\n  ")
        return 1
    if not check:
        print(f"{len(wrong)} cells retagged in {len(chapters())} chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
