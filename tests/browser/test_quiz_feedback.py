"""End-to-end test of the quiz's feedback in a real JupyterLab: hints for wrong answers.

Chapter 04's quiz cell is run on its own (it needs nothing from the cells above it), and one
question of each kind is answered first wrong, then right:

* single choice (question 1, whose hint is long): the chosen option's hint shows, and the
  *Check* button keeps its full width beside it (it used to shrink to "Ch…");
* multiple choice: an extra wrong option is named with its hint, a missing one is counted;
* numeric: a listed mistake gets its own hint; any other number is called too high or too
  low and gets the question's method.

Each right answer must then be called correct, with the question's explanation.

Run: ``.venv/bin/python -m pytest -q tests/browser/test_quiz_feedback.py``; needs Debian's
``chromium`` (see conftest.py for the fixtures and environment variables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from test_lab import open_notebook

from course_utils.learner.quiz import Question, load_quiz_file

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the test (fails it on CI) and says why
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHAPTER = "04_self_attention"
RUN_TIMEOUT_MS = 60_000      # the quiz cell: import course_utils, draw the widgets
WIDGET_TIMEOUT_MS = 10_000   # a widget's answer to a click


def normalise(text: str) -> str:
    return " ".join(text.split())


def run_quiz_cell(page: Page, notebook: Locator, count: int) -> Locator:
    """Run the chapter's ``show_quiz`` cell alone; returns its ``count`` question widgets."""
    cell = notebook.locator(".jp-CodeCell", has_text=f'show_quiz("{CHAPTER}")')
    expect(cell, "the chapter has no show_quiz cell").to_have_count(1)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    questions = cell.locator(".course-quiz-question")
    expect(questions, "the quiz widgets were not drawn").to_have_count(count,
                                                                       timeout=RUN_TIMEOUT_MS)
    failed = cell.locator(".jupyter-widgets-error-widget")
    assert failed.count() == 0, "a quiz widget failed to render"
    return questions


class QuestionView:
    """One question's widget: its inputs, its Check button and its feedback."""

    def __init__(self, widget: Locator, question: Question) -> None:
        self.widget, self.question = widget, question
        self.button = widget.get_by_role("button", name="Check")
        self.verdict = widget.locator(".quiz-verdict")
        self.feedback = widget.locator(".widget-html:has(.quiz-verdict)")

    def check(self, verdict: str, *expected: str) -> str:
        """Press Check; the verdict and every expected text must show. Returns the feedback."""
        self.button.click()
        expect(self.verdict).to_have_text(verdict, timeout=WIDGET_TIMEOUT_MS)
        for text in expected:
            expect(self.feedback).to_contain_text(normalise(text), timeout=WIDGET_TIMEOUT_MS)
        shown = normalise(self.feedback.inner_text())
        if verdict.startswith("✗"):
            assert shown.endswith("Try again."), f"{self.question.id}: no second try: {shown!r}"
            assert normalise(self.question.explanation) not in shown, (
                f"{self.question.id}: a wrong answer was given the full explanation")
        return shown

    def choose(self, indices: set[int]) -> None:
        """Select the options at ``indices`` (one radio button, or exactly those boxes)."""
        if self.question.kind == "single":
            radios = self.widget.locator(".widget-radio-box input[type=radio]")
            expect(radios).to_have_count(len(self.question.options))
            (index,) = indices
            radios.nth(index).check()
            return
        boxes = self.widget.locator(".widget-checkbox input[type=checkbox]")
        expect(boxes).to_have_count(len(self.question.options))
        for i in range(len(self.question.options)):
            boxes.nth(i).set_checked(i in indices)

    def enter(self, number: float) -> None:
        box = self.widget.locator(".widget-text input[type=text]")
        expect(box).to_have_count(1)
        box.fill(f"{number:g}")
        expect(box).to_have_value(f"{number:g}")


def first_of_kind(questions: list[Question], kind: str) -> int:
    return next(i for i, q in enumerate(questions) if q.kind == kind)


def test_wrong_answers_get_hints_and_right_ones_are_correct(page: Page, lab_server) -> None:
    questions = load_quiz_file(lab_server.quiz_dir / f"{CHAPTER}.yaml").questions
    notebook = open_notebook(page, lab_server.workspace_url(f"{CHAPTER}.ipynb"))
    widgets = run_quiz_cell(page, notebook, len(questions))

    # Single choice: the first question, with the longest hint of the quiz's first options.
    index = first_of_kind(questions, "single")
    single = QuestionView(widgets.nth(index), questions[index])
    options = single.question.options
    wrong = max((i for i, o in enumerate(options) if not o.correct),
                key=lambda i: len(options[i].explanation))
    right = next(i for i, o in enumerate(options) if o.correct)
    width = single.button.bounding_box()["width"]
    single.choose({wrong})
    single.check("✗ Not quite.", options[wrong].explanation)
    assert abs(single.button.bounding_box()["width"] - width) < 1, (
        "the Check button changed its width beside a long hint")
    assert single.button.evaluate("b => b.scrollWidth <= b.clientWidth"), (
        "the Check button's label is cut short")
    single.choose({right})
    single.check("✓ Correct.", options[right].explanation, single.question.explanation)

    # Multiple choice: an extra wrong option, then a missing right one, then exactly right.
    index = first_of_kind(questions, "multiple")
    multiple = QuestionView(widgets.nth(index), questions[index])
    options = multiple.question.options
    right_ones = {i for i, o in enumerate(options) if o.correct}
    wrong = next(i for i, o in enumerate(options) if not o.correct)
    multiple.choose(right_ones | {wrong})
    multiple.check("✗ Not quite.", f"{options[wrong].id}) is not right:",
                   options[wrong].explanation)
    multiple.choose(right_ones - {min(right_ones)})
    multiple.check("✗ Not quite.", "You missed 1 right option.")
    multiple.choose(right_ones)
    multiple.check("✓ Correct.", multiple.question.explanation)

    # Numeric: a listed mistake, a number too high and one too low, then the answer.
    index = first_of_kind(questions, "numeric")
    numeric = QuestionView(widgets.nth(index), questions[index])
    question = numeric.question
    assert question.method and question.mistakes, f"{question.id}: no method or mistakes"
    mistake = question.mistakes[0]
    numeric.enter(mistake.answer)
    numeric.check("✗ Not quite.", mistake.explanation)
    listed = [m.answer for m in question.mistakes]
    for offset, direction in ((1, "too high"), (-1, "too low")):
        wrong_number = question.answer + offset * 1001
        assert all(abs(wrong_number - m) > question.tolerance for m in listed)
        numeric.enter(wrong_number)
        shown = numeric.check("✗ Not quite.", direction, question.method)
        assert mistake.explanation not in shown
    numeric.enter(question.answer)
    numeric.check("✓ Correct.", question.explanation)
