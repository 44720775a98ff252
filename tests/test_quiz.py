"""course_utils.learner.quiz: the quiz files, grading, malformed files and the widgets."""

from __future__ import annotations

import html
import math
import os
import textwrap
from pathlib import Path

import ipywidgets as w
import pytest

from course_utils.learner import quiz as quiz_module
from course_utils.learner.quiz import (
    Feedback,
    Quiz,
    QuizFormatError,
    QuizView,
    check,
    load_quiz,
    load_quiz_file,
    quiz_dir,
    quiz_path,
    show_quiz,
)

REPO_QUIZ_DIR = Path(__file__).resolve().parents[1] / "quizzes"
QUIZ_FILES = sorted(REPO_QUIZ_DIR.glob("*.yaml"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# A small quiz of every kind, written to tmp_path so the tests do not depend on course text.
SAMPLE = """\
title: Sample quiz
questions:
  - id: pick-one
    kind: single
    source: notes
    prompt: Which is the query? (a < b & c)
    options:
      - {id: a, text: The question asked, correct: true, explanation: Right; q asks.}
      - {id: b, text: The label, correct: false, explanation: That is the key.}
      - {id: c, text: The content, correct: false, explanation: That is the value.}
    explanation: Query asks, key labels, value answers.
  - id: pick-many
    kind: multiple
    source: course
    prompt: Which are differentiable?
    options:
      - {id: a, text: softmax, correct: true, explanation: Smooth everywhere.}
      - {id: b, text: argmax, correct: false, explanation: Piecewise constant.}
      - {id: c, text: tanh, correct: true, explanation: Smooth too.}
    explanation: Soft attention is trainable because every step is differentiable.
  - id: number
    kind: numeric
    source: course
    prompt: What is softmax([0, ln 3])[1]?
    answer: 0.75
    tolerance: 0.01
    explanation: Three quarters of the mass goes to the second key.
"""


@pytest.fixture
def sample(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("COURSE_QUIZ_DIR", str(tmp_path))
    (tmp_path / "sample.yaml").write_text(SAMPLE, encoding="utf-8")
    return "sample"


def write_quiz(tmp_path: Path, monkeypatch, name: str, text: str) -> str:
    monkeypatch.setenv("COURSE_QUIZ_DIR", str(tmp_path))
    (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return name


# ============================================================================ the course's files
def test_quiz_files_exist():
    assert len(QUIZ_FILES) >= 1, f"no quiz files in {REPO_QUIZ_DIR}"


def test_default_quiz_dir_is_the_course_quizzes_folder(monkeypatch):
    monkeypatch.delenv("COURSE_QUIZ_DIR", raising=False)
    assert quiz_dir().resolve() == REPO_QUIZ_DIR


@pytest.mark.parametrize("path", QUIZ_FILES, ids=lambda p: p.stem)
def test_quiz_file_validates(path, monkeypatch):
    monkeypatch.delenv("COURSE_QUIZ_DIR", raising=False)
    quiz = load_quiz_file(path)
    assert isinstance(quiz, Quiz) and quiz.title.strip()
    assert load_quiz(path.stem) == quiz
    ids = [q.id for q in quiz.questions]
    assert len(ids) == len(set(ids))
    for q in quiz.questions:
        assert q.prompt.strip() and q.explanation.strip()
        assert q.source in {"notes", "course"}


@pytest.mark.parametrize("path", QUIZ_FILES, ids=lambda p: p.stem)
def test_every_question_of_a_course_quiz_grades_its_own_answer(path, monkeypatch):
    """The key of each question is graded correct and every wrong answer incorrect."""
    monkeypatch.delenv("COURSE_QUIZ_DIR", raising=False)
    chapter = path.stem
    for q in load_quiz(chapter).questions:
        if q.kind == "numeric":
            assert check(chapter, q.id, q.answer).correct
            assert not check(chapter, q.id, q.answer + 2 * q.tolerance + 1.0).correct
        elif q.kind == "single":
            for option in q.options:
                result = check(chapter, q.id, option.id)
                assert result.correct is option.correct, (q.id, option.id)
                assert option.explanation in result.explanation
        else:
            assert check(chapter, q.id, q.correct_ids).correct
            for option in q.options:
                chosen = set(q.correct_ids) ^ {option.id}  # flip one option
                assert not check(chapter, q.id, sorted(chosen)).correct, (q.id, option.id)


def test_the_rotation_hints_quote_the_sinusoidal_encoding():
    """Chapter 06's question on PE(p)·PE(p + k) quotes dot products at d_model = 32: they
    must be the encoding's (at every p, since they depend only on k)."""
    import torch

    from course_utils.positional import sinusoidal_encoding

    pe = sinusoidal_encoding(600, 32, dtype=torch.float64)
    dot = (pe[100] @ pe[100:].T).tolist()  # dot[k] = PE(100)·PE(100 + k)
    assert round(dot[1], 1) == 15.3 and round(dot[0]) == 16
    assert round(dot[10], 1) == 10.1 and round(dot[20], 1) == 10.5  # ripples, not a decay
    far = min(range(len(dot)), key=dot.__getitem__)
    assert (far, round(dot[far], 1)) == (487, -1.2)  # far offsets do go below 0
    question = load_quiz("06_positional_encoding").question("rotation")
    text = " ".join(o.explanation for o in question.options)
    for quoted in ("15.3", "= 16", "10.5", "10.1", "−1.2 at k = 487"):
        assert quoted in text, quoted


# ====================================================================================== check()
def test_check_single(sample):
    right = check(sample, "pick-one", "a")
    assert isinstance(right, Feedback)
    assert right.correct is True
    assert "Right; q asks." in right.explanation
    assert "Query asks, key labels, value answers." in right.explanation
    wrong = check(sample, "pick-one", "b")
    assert wrong.correct is False
    assert "That is the key." in wrong.explanation and "Try again." in wrong.explanation
    # A wrong answer does not give the answer away: the full explanation comes when right.
    assert "Query asks, key labels, value answers." not in wrong.explanation
    assert str(right).startswith("✓ Correct") and str(wrong).startswith("✗ Not quite")


@pytest.mark.parametrize("answer", [["a", "c"], ("c", "a"), {"a", "c"}, frozenset("ac")],
                         ids=["list", "tuple", "set", "frozenset"])
def test_check_multiple_correct(sample, answer):
    result = check(sample, "pick-many", answer)
    assert result.correct is True
    assert "every step is differentiable" in result.explanation


def test_check_multiple_incorrect_explains_missed_and_extra(sample):
    missed = check(sample, "pick-many", ["a"])
    assert missed.correct is False
    assert "You missed 1 right option." in missed.explanation
    assert "Smooth too." not in missed.explanation  # the missed option is not named
    extra = check(sample, "pick-many", ["a", "b", "c"])
    assert extra.correct is False
    assert "b) is not right: Piecewise constant." in extra.explanation
    assert "missed" not in extra.explanation
    none = check(sample, "pick-many", [])
    assert none.correct is False and "You missed 2 right options." in none.explanation
    for feedback in (missed, extra, none):
        assert "Try again." in feedback.explanation
        assert "every step is differentiable" not in feedback.explanation


@pytest.mark.parametrize(("answer", "correct"), [(0.75, True), (0.755, True), (0.7401, True),
                                                 (0.7599, True), (0.7602, False), (0.78, False),
                                                 (0, False), (1, False), (-0.75, False)])
def test_check_numeric(sample, answer, correct):
    result = check(sample, "number", answer)
    assert result.correct is correct
    assert ("Three quarters" in result.explanation) is correct
    if not correct:
        assert f"Your answer {answer:g} is not within 0.01" in result.explanation
        assert "Try again." in result.explanation


def test_check_numeric_recognises_a_listed_mistake(tmp_path, monkeypatch):
    text = SAMPLE.replace(
        "    explanation: Three quarters of the mass goes to the second key.",
        "    mistakes:\n      - {answer: 0.25, explanation: That is the first key's weight.}\n"
        "    explanation: Three quarters of the mass goes to the second key.")
    name = write_quiz(tmp_path, monkeypatch, "with_mistakes", text)
    hint = check(name, "number", 0.25)
    assert hint.correct is False
    assert hint.explanation == "That is the first key's weight. Try again."
    assert check(name, "number", 0.75).correct


METHOD = "Exponentiate both scores and divide the second by their sum."


def with_method(tmp_path, monkeypatch, tolerance: str = "0.01") -> str:
    text = SAMPLE.replace(
        "    tolerance: 0.01\n",
        f"    tolerance: {tolerance}\n    method: {METHOD}\n"
        "    mistakes:\n      - {answer: 0.25, explanation: That is the first key's weight.}\n")
    return write_quiz(tmp_path, monkeypatch, "with_method", text)


@pytest.mark.parametrize(("answer", "direction"), [(0.9, "too high"), (201, "too high"),
                                                   (0.5, "too low"), (-3, "too low")])
def test_any_other_wrong_number_says_which_way_and_gives_the_method(tmp_path, monkeypatch,
                                                                   answer, direction):
    name = with_method(tmp_path, monkeypatch)
    result = check(name, "number", answer)
    assert result.correct is False
    assert result.explanation == (f"Your answer {answer:g} is not within 0.01 of the answer: "
                                  f"it is {direction}. {METHOD} Try again.")
    assert "Three quarters" not in result.explanation  # the answer is not given away


def test_a_listed_mistake_gets_its_own_hint_not_the_method(tmp_path, monkeypatch):
    name = with_method(tmp_path, monkeypatch)
    assert check(name, "number", 0.25).explanation == "That is the first key's weight. Try again."
    assert check(name, "number", 0.75).correct


def test_an_exact_answer_is_too_high_or_too_low_without_a_tolerance(tmp_path, monkeypatch):
    name = with_method(tmp_path, monkeypatch, tolerance="0")
    assert check(name, "number", 0.8).explanation == (
        f"Your answer 0.8 is too high. {METHOD} Try again.")
    assert "not within 0 " not in check(name, "number", 0.7).explanation


def test_the_number_box_shows_the_method(tmp_path, monkeypatch):
    q = QuizView(with_method(tmp_path, monkeypatch))["number"]
    q.input.value = "2"
    q.button.click()
    assert "Not quite" in q.feedback.value and "too high" in q.feedback.value
    assert html.escape(METHOD) in q.feedback.value


def test_a_listed_mistake_inside_the_tolerance_is_a_format_error(tmp_path, monkeypatch):
    text = SAMPLE.replace(
        "    explanation: Three quarters of the mass goes to the second key.",
        "    mistakes:\n      - {answer: 0.751, explanation: Close.}\n"
        "    explanation: Three quarters of the mass goes to the second key.")
    name = write_quiz(tmp_path, monkeypatch, "bad_mistakes", text)
    with pytest.raises(QuizFormatError, match="within the tolerance"):
        load_quiz(name)


@pytest.mark.parametrize("answer", [0.76, 0.74])
def test_check_numeric_answer_at_the_tolerance_is_correct(sample, answer):
    assert check(sample, "number", answer).correct


@pytest.mark.parametrize("answer", [math.nan, math.inf])
def test_check_numeric_non_finite_is_incorrect(sample, answer):
    result = check(sample, "number", answer)
    assert result.correct is False and "not a finite number" in result.explanation


def test_check_unknown_option(sample):
    with pytest.raises(ValueError, match=r"question 'pick-one' has no option 'z'; options are "
                                         r"'a', 'b', 'c'"):
        check(sample, "pick-one", "z")
    with pytest.raises(ValueError, match="has no option 'z'"):
        check(sample, "pick-many", ["a", "z"])


def test_check_unknown_question(sample):
    with pytest.raises(ValueError, match=r"no question 'nope'; ids are 'pick-one', 'pick-many'"):
        check(sample, "nope", "a")


@pytest.mark.parametrize(
    ("question", "answer"),
    [("pick-one", ["a"]), ("pick-one", 1), ("pick-one", None), ("pick-many", "a"),
     ("pick-many", None), ("number", "0.75"), ("number", True), ("number", [0.75])],
)
def test_check_wrong_answer_type(sample, question, answer):
    with pytest.raises(TypeError, match=f"question '{question}' takes"):
        check(sample, question, answer)


def test_unknown_chapter(sample):
    with pytest.raises(FileNotFoundError, match=r"no quiz 'missing'.*known quizzes: \['sample'\]"):
        load_quiz("missing")
    for bad in ["", "../sample", "a/b", 3]:
        with pytest.raises(ValueError, match="chapter must be"):
            quiz_path(bad)


def test_load_quiz_caches_by_mtime(tmp_path, monkeypatch):
    name = write_quiz(tmp_path, monkeypatch, "cached", SAMPLE)
    first = load_quiz(name)
    assert load_quiz(name) is first
    path = tmp_path / "cached.yaml"
    path.write_text(SAMPLE.replace("Sample quiz", "Edited quiz"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert load_quiz(name).title == "Edited quiz"


# ============================================================================ malformed files
QUESTION = """\
title: Broken
questions:
  - id: fine
    kind: numeric
    source: course
    prompt: P
    answer: 1
    tolerance: 0
    explanation: X
"""

MALFORMED = {
    "missing_option_explanation": (
        QUESTION + """\
  - id: q-bad
    kind: single
    source: course
    prompt: P
    options:
      - {id: a, text: A, correct: true, explanation: E}
      - {id: b, text: B, correct: false}
    explanation: X
""",
        ["question 'q-bad' (#2)", "options.1.explanation", "Field required"],
    ),
    "two_correct_single": (
        QUESTION + """\
  - id: q-bad
    kind: single
    source: course
    prompt: P
    options:
      - {id: a, text: A, correct: true, explanation: E}
      - {id: b, text: B, correct: true, explanation: E}
    explanation: X
""",
        ["question 'q-bad' (#2)", "exactly one correct option, has 2"],
    ),
    "numeric_without_tolerance": (
        QUESTION + """\
  - id: q-bad
    kind: numeric
    source: course
    prompt: P
    answer: 0.5
    explanation: X
""",
        ["question 'q-bad' (#2)", "'tolerance'"],
    ),
    "duplicate_ids": (
        QUESTION + QUESTION.split("questions:\n", 1)[1],
        ["'fine'", "ids must be unique"],
    ),
    "unknown_kind": (
        QUESTION + """\
  - id: q-bad
    kind: essay
    source: course
    prompt: P
    explanation: X
""",
        ["question 'q-bad' (#2)", "field kind", "'single', 'multiple' or 'numeric'"],
    ),
    "numeric_with_options": (
        QUESTION.replace("tolerance: 0", "tolerance: 0\n    options: []").replace(
            "id: fine", "id: q-bad"),
        ["question 'q-bad' (#1)", "takes no 'options'"],
    ),
    "negative_tolerance": (
        QUESTION.replace("tolerance: 0", "tolerance: -1").replace("id: fine", "id: q-bad"),
        ["question 'q-bad' (#1)", "field tolerance"],
    ),
    "unknown_field": (
        QUESTION.replace("source: course", "source: course\n    hint: H").replace(
            "id: fine", "id: q-bad"),
        ["question 'q-bad' (#1)", "field hint"],
    ),
    "bad_source": (
        QUESTION.replace("source: course", "source: book").replace("id: fine", "id: q-bad"),
        ["question 'q-bad' (#1)", "field source"],
    ),
    "method_on_a_single_question": (
        QUESTION + """\
  - id: q-bad
    kind: single
    source: course
    prompt: P
    method: Count the rows.
    options:
      - {id: a, text: A, correct: true, explanation: E}
      - {id: b, text: B, correct: false, explanation: E}
    explanation: X
""",
        ["question 'q-bad' (#2)", "takes no 'method'"],
    ),
    "empty_method": (
        QUESTION.replace("tolerance: 0", "tolerance: 0\n    method: ''").replace(
            "id: fine", "id: q-bad"),
        ["question 'q-bad' (#1)", "field method"],
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_quiz_names_file_question_and_field(case, tmp_path, monkeypatch):
    text, expected = MALFORMED[case]
    name = write_quiz(tmp_path, monkeypatch, f"bad_{case}", text)
    with pytest.raises(QuizFormatError) as info:
        load_quiz(name)
    message = str(info.value)
    assert message.startswith(f"bad_{case}.yaml: ")
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert isinstance(info.value, ValueError)
    # check() goes through the same validation
    with pytest.raises(QuizFormatError, match=f"bad_{case}.yaml"):
        check(name, "fine", 1.0)


def test_two_correct_options_names_the_correct_field(tmp_path, monkeypatch):
    text, _ = MALFORMED["two_correct_single"]
    name = write_quiz(tmp_path, monkeypatch, "two_correct", text)
    with pytest.raises(QuizFormatError, match=r"two_correct\.yaml: question 'q-bad'.*correct"):
        load_quiz(name)


def test_invalid_yaml(tmp_path, monkeypatch):
    name = write_quiz(tmp_path, monkeypatch, "not_yaml", "title: T\nquestions: [ {id: x\n")
    with pytest.raises(QuizFormatError, match=r"^not_yaml\.yaml: not valid YAML"):
        load_quiz(name)


def test_empty_or_non_mapping_file(tmp_path, monkeypatch):
    name = write_quiz(tmp_path, monkeypatch, "empty_list", "- 1\n- 2\n")
    with pytest.raises(QuizFormatError, match=r"^empty_list\.yaml: "):
        load_quiz(name)
    name = write_quiz(tmp_path, monkeypatch, "no_questions", "title: T\nquestions: []\n")
    with pytest.raises(QuizFormatError, match=r"no_questions\.yaml: .*field questions"):
        load_quiz(name)


# ==================================================================================== widgets
def test_quiz_view_builds_a_widget_per_question(sample):
    view = QuizView(sample)
    assert isinstance(view.widget, w.VBox)
    assert [q.question.id for q in view.questions] == ["pick-one", "pick-many", "number"]
    assert isinstance(view["pick-one"].input, w.RadioButtons)
    assert view["pick-one"].input.value is None
    assert isinstance(view["number"].input, w.Text) and view["number"].input.value == ""
    assert set(view["pick-many"].boxes) == {"a", "b", "c"}
    with pytest.raises(KeyError):
        view["nope"]


def test_single_question_widget(sample):
    q = QuizView(sample)["pick-one"]
    assert [value for _, value in q.input.options] == ["a", "b", "c"]
    q.button.click()
    assert "Choose an answer first" in q.feedback.value
    q.input.value = "a"
    q.button.click()
    assert "Correct" in q.feedback.value and "Not quite" not in q.feedback.value
    assert "Right; q asks." in q.feedback.value
    q.input.value = "c"
    q.button.click()
    assert "Not quite" in q.feedback.value and "Correct" not in q.feedback.value
    assert "That is the value." in q.feedback.value


def test_multiple_question_widget(sample):
    q = QuizView(sample)["pick-many"]
    q.boxes["a"].value = True
    q.button.click()
    assert "Not quite" in q.feedback.value and "You missed 1 right option" in q.feedback.value
    q.boxes["c"].value = True
    assert q.answer() == ["a", "c"]
    q.button.click()
    assert "Correct" in q.feedback.value
    assert "every step is differentiable" in q.feedback.value
    q.boxes["b"].value = True
    q.button.click()
    assert "Not quite" in q.feedback.value and "Piecewise constant." in q.feedback.value


def test_numeric_question_widget(sample):
    q = QuizView(sample)["number"]
    q.input.value = "0.755"
    q.button.click()
    assert "Correct" in q.feedback.value and "Three quarters" in q.feedback.value
    q.input.value = "0.5"
    q.button.click()
    assert "Not quite" in q.feedback.value
    assert "Your answer 0.5 is not within 0.01" in q.feedback.value


def test_the_check_button_keeps_its_width_beside_a_long_feedback(sample):
    # A flex item shrinks by default: a long feedback squeezed the button to "Ch…".
    for q in QuizView(sample).questions:
        layout = q.button.layout
        assert layout.flex == "0 0 auto" and layout.min_width == layout.width == "8em"
        assert q.feedback.layout.min_width == "0"  # the feedback wraps instead


def test_numeric_question_widget_with_nothing_entered(sample):
    q = QuizView(sample)["number"]
    q.button.click()
    assert "Choose an answer first" in q.feedback.value


def test_numeric_question_widget_rejects_text_that_is_not_a_number(sample):
    q = QuizView(sample)["number"]
    q.input.value = "three quarters"
    q.button.click()
    assert "Enter a number" in q.feedback.value
    assert "Correct" not in q.feedback.value and "Not quite" not in q.feedback.value


def test_feedback_html_is_escaped(tmp_path, monkeypatch):
    text = SAMPLE.replace("explanation: That is the key.", "explanation: <b>key</b> & lock")
    name = write_quiz(tmp_path, monkeypatch, "escaped", text)
    q = QuizView(name)["pick-one"]
    q.input.value = "b"
    q.button.click()
    assert "&lt;b&gt;key&lt;/b&gt; &amp; lock" in q.feedback.value
    assert "<b>key</b>" not in q.feedback.value


def _check_bundle(view: QuizView) -> None:
    bundle = view._repr_mimebundle_()
    page = bundle["text/html"]
    for q in view.quiz.questions:
        assert html.escape(q.prompt) in page
        assert html.escape(q.explanation) in page
    assert page.count("<details>") == len(view.quiz.questions)
    assert page.count("</details>") == len(view.quiz.questions)
    assert html.escape(view.quiz.title) in page
    plain = bundle["text/plain"]
    assert plain == f"Quiz: {view.quiz.title} ({len(view.quiz.questions)} questions)"
    assert len(plain) < 120 and "\n" not in plain
    assert bundle[WIDGET_VIEW]["model_id"] == view.widget.model_id


def test_quiz_view_mime_bundle(sample):
    view = QuizView(sample)
    _check_bundle(view)
    page = view._repr_mimebundle_()["text/html"]
    assert "(a &lt; b &amp; c)" in page  # prompts are escaped
    assert page.count("(from the notes)") == 1
    assert "<b>Answer:</b> a) The question asked</p>" in page
    assert "a) softmax; c) tanh" in page
    assert "0.75 (± 0.01)" in page
    assert "That is the key." not in page  # only the overall explanation is in the summary


@pytest.mark.parametrize("path", QUIZ_FILES, ids=lambda p: p.stem)
def test_course_quiz_view_mime_bundle(path, monkeypatch):
    monkeypatch.delenv("COURSE_QUIZ_DIR", raising=False)
    _check_bundle(QuizView(path.stem))


def test_show_quiz_displays_a_quiz_view_and_returns_none(sample, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **_: shown.extend(objs))
    assert show_quiz(sample) is None
    assert len(shown) == 1 and isinstance(shown[0], QuizView)
    assert shown[0].chapter == sample


def test_show_quiz_unknown_chapter(sample):
    with pytest.raises(FileNotFoundError, match="no quiz 'nope'"):
        show_quiz("nope")


def test_nothing_is_written_to_disk(sample, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    view = QuizView(sample)
    view["pick-one"].input.value = "a"
    view["pick-one"].button.click()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert quiz_module.quiz_dir() == tmp_path
