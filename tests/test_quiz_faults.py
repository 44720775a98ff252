"""Quiz files and answers under faults: every bad file is a QuizFormatError naming it, and
no number, however large, crashes the grading."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from course_utils.learner.quiz import Feedback, QuizFormatError, QuizView, check, load_quiz_file

QUIZ = """\
title: Faults
questions:
  - id: number
    kind: numeric
    source: course
    prompt: What is softmax([0, ln 3])[1]?
    answer: 0.75
    tolerance: 0.01
    explanation: Three quarters of the mass goes to the second key.
"""


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch) -> None:
    """Answers checked here are recorded in a throwaway progress file."""
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "data" / "progress.json"))


@pytest.fixture
def quiz(tmp_path, monkeypatch) -> str:
    folder = tmp_path / "quizzes"
    folder.mkdir()
    monkeypatch.setenv("COURSE_QUIZ_DIR", str(folder))
    (folder / "faults.yaml").write_text(QUIZ, encoding="utf-8")
    return "faults"


# ====================================================================== unreadable files
def write(tmp_path: Path, content: bytes | str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


UNREADABLE = {
    "invalid_utf8": QUIZ.encode().replace(b"Faults", b"F\xffults"),
    "utf16_with_bom": QUIZ.encode("utf-16"),
    "utf16_without_bom": QUIZ.encode("utf-16-le"),
    "nested_lists": "title: " + "[" * 100_000,
    "nested_mappings": "title: " + "{a: " * 100_000,
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_quiz_file_is_a_format_error_naming_it(case, tmp_path):
    path = write(tmp_path, UNREADABLE[case])
    with pytest.raises(QuizFormatError, match=r"^broken\.yaml: "):
        load_quiz_file(path)


def test_a_missing_quiz_file_is_a_format_error_naming_it(tmp_path):
    with pytest.raises(QuizFormatError, match=r"^absent\.yaml: .*absent\.yaml"):
        load_quiz_file(tmp_path / "absent.yaml")


def test_a_folder_in_place_of_a_quiz_file_is_a_format_error_naming_it(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(QuizFormatError, match=r"^folder\.yaml: "):
        load_quiz_file(tmp_path / "folder.yaml")


# ========================================================================= duplicate keys
DUPLICATES = {
    "id": QUIZ.replace("  - id: number\n", "  - id: number\n    id: other\n"),
    "prompt": QUIZ.replace("    answer: 0.75\n", "    prompt: A second prompt\n    answer: 0.75\n"),
    "title": QUIZ.replace("questions:\n", "title: Again\nquestions:\n"),
    "tolerance": QUIZ.replace("    answer: 0.75\n",
                              "    answer: 0.75\n    tolerance: 0.5\n"),
}


@pytest.mark.parametrize("key", sorted(DUPLICATES))
def test_a_repeated_key_is_a_format_error_naming_the_file_and_key(key, tmp_path):
    path = write(tmp_path, DUPLICATES[key])
    with pytest.raises(QuizFormatError, match=r"^broken\.yaml: ") as info:
        load_quiz_file(path)
    assert repr(key) in str(info.value)


def test_the_same_key_in_different_mappings_is_fine(tmp_path):
    text = QUIZ + QUIZ.split("questions:\n", 1)[1].replace("id: number", "id: second")
    assert [q.id for q in load_quiz_file(write(tmp_path, text)).questions] == ["number",
                                                                              "second"]


# ============================================================================= huge numbers
@pytest.mark.parametrize("answer", [10**400, -(10**400), 10**5000, float("inf"), float("nan")],
                         ids=["10**400", "-10**400", "10**5000", "inf", "nan"])
def test_a_number_beyond_float_is_a_wrong_answer_with_a_hint(quiz, answer):
    result = check(quiz, "number", answer)
    assert isinstance(result, Feedback) and result.correct is False
    assert "Try again." in result.explanation and len(result.explanation) < 200


def test_a_big_integer_within_float_range_is_graded(quiz):
    assert "Your answer 1e+300 is not within" in check(quiz, "number", 10**300).explanation


@pytest.mark.parametrize("text", ["1e400", "-1e999", "9" * 5000, "inf", "nan", "10**400"])
def test_the_number_box_never_raises(quiz, text):
    widget = QuizView(quiz)["number"]
    widget.input.value = text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        widget.check()
    assert "Not quite" in widget.feedback.value or "Enter a number" in widget.feedback.value
