"""Every chapter shows the notes' slide for its mechanism, drawn by course_utils.learner.figures,
as a saved picture (so it is seen without a kernel: on the site, on GitHub, in the decks)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIGURES = re.compile(r"from course_utils\.learner\.figures\.(chapter_\d\d) import")


def figure_cells(path: Path) -> list:
    """The code cells that draw with a figures module, with the module's name."""
    cells = nbformat.read(path, as_version=4).cells
    return [(cell, match[1]) for cell in cells if cell.cell_type == "code"
            for match in [FIGURES.search(cell.source)] if match]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_draws_its_figure_and_saves_the_picture(path):
    cells = figure_cells(path)
    assert cells, f"{path.name} draws none of the notes' figures (course_utils.learner.figures)"
    for cell, module in cells:
        assert module == f"chapter_{path.name[:2]}", f"{path.name} draws {module}'s figure"
        pictures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert pictures, f"{path.name}: a figure cell saved no picture:\n{cell.source[:200]}"


def test_the_figures_modules_exist_for_every_chapter():
    modules = {p.stem for p in (ROOT / "course_utils" / "learner" / "figures").glob("chapter_*.py")}
    assert modules == {f"chapter_{p.name[:2]}" for p in CHAPTERS}
