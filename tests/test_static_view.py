"""Chapters read without a kernel (GitHub, exported HTML) still show every figure and quiz.

Checks the committed notebooks: a clean Restart & Run All (counts 1..n, no errors, no saved
widget state), a static fallback in every widget output, and an HTML export in which every
figure and every quiz question (answers folded in <details>) is present.
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

from course_utils.learner.quiz import load_quiz

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_there_are_chapters():
    assert NOTEBOOKS, "no chapter notebooks found in notebooks/"


def outputs(nb):
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            yield index, cell, output


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_committed_as_a_clean_run(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [i for i, _, o in outputs(nb) if o.output_type == "error"]
    assert "widgets" not in nb.metadata, "saved widget state: re-run with `make notebooks`"
    assert path.stat().st_size < 3_000_000


def test_every_widget_output_has_a_static_fallback(notebook):
    _, nb = notebook
    for index, cell, output in outputs(nb):
        data = output.get("data", {})
        if WIDGET not in data:
            continue
        text = data.get("text/plain", "")
        if "Explorer(" in cell.source or "move the controls" in text:  # every Explorer
            assert "image/png" in data, f"cell {index}: the explorer left no static PNG"
        elif "show_quiz" in cell.source:
            assert "<details>" in data.get("text/html", ""), f"cell {index}: quiz has no HTML"
        else:  # a progress bar: its text shows the final state
            assert "100%" in text, f"cell {index}: widget output without a static fallback"


def test_html_export_shows_every_figure_and_quiz_question(notebook):
    path, nb = notebook
    page, _ = HTMLExporter().from_notebook_node(nb)
    figures = sum("image/png" in o.get("data", {}) for _, _, o in outputs(nb))
    assert figures and page.count('src="data:image/png;base64,') == figures
    quiz = load_quiz(path.stem)
    assert f'show_quiz("{path.stem}")' in "".join(c.source for c in nb.cells)
    text = html.unescape(page)
    for question in quiz.questions:
        assert question.prompt in text, f"quiz question {question.id} not shown"
    assert page.count("<summary>Show the answer</summary>") == len(quiz.questions)
