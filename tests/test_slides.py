"""Every chapter presents as a slideshow: slide metadata on every cell, by the rules of
tools/tag_slides.py (set-up, long code, solutions and the progress section skipped)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import tag_slides  # noqa: E402

CHAPTERS = tag_slides.chapters()


def test_there_are_chapters():
    assert len(CHAPTERS) >= 9


def test_the_metadata_is_up_to_date(capsys):
    assert tag_slides.main(["--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_slides(path):
    cells = nbformat.read(path, as_version=4).cells
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in cells]
    assert set(kinds) <= {"slide", "subslide", "-", "skip"}, "every cell needs a slide type"
    assert kinds[0] == "slide" and cells[0].source.startswith("# Chapter")
    slides, shown = kinds.count("slide"), sum(k in ("slide", "subslide") for k in kinds)
    assert 4 <= slides <= 16 and 8 <= shown <= 60, (slides, shown)
    first_code = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    assert kinds[first_code] == "skip"                       # the set-up cell
    for cell, kind in zip(cells, kinds, strict=True):
        if cell.cell_type == "code" and kind != "skip":
            assert len(cell.source.splitlines()) <= tag_slides.LONG_CODE
        if cell.source.lstrip().startswith("<details>") or "progress()" in cell.source:
            assert kind == "skip"                            # answers and progress: not shown
        if "show_quiz(" in cell.source or "Explorer(" in cell.source:
            assert kind != "skip"                            # the widgets are the lecture


def test_the_rules_on_a_small_notebook():
    new = nbformat.v4
    cells = [new.new_markdown_cell("# Chapter 99"), new.new_code_cell("import torch"),
             new.new_markdown_cell("## 1 · A part"), new.new_markdown_cell("Why."),
             new.new_code_cell("x = 1"), new.new_code_cell("\n".join(["y = 2"] * 31)),
             new.new_markdown_cell("### 1.1 · Detail"),
             new.new_markdown_cell("<details><summary>Solutions</summary></details>"),
             new.new_markdown_cell("## Your progress"), new.new_code_cell("progress()")]
    assert tag_slides.slide_types(cells) == ["slide", "skip", "slide", "subslide", "-", "skip",
                                            "subslide", "skip", "skip", "skip"]
