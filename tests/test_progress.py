"""Self-study progress: recorded locally, atomically, robust to a corrupt file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.learner import progress as progress_module
from course_utils.learner import progress_store
from course_utils.learner.exercises import EXERCISE_CHAPTERS, EXERCISES, check_exercise
from course_utils.learner.progress import progress
from course_utils.learner.progress_store import (
    load_progress,
    progress_file,
    record_exercise,
    record_quiz,
    reset_progress,
)
from course_utils.learner.quiz import QuizView, check

ROOT = Path(__file__).resolve().parent.parent
CH01 = "01_attention_and_memory"


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data" / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(path))
    return path


def test_the_file_lives_outside_the_course_folder(monkeypatch):
    monkeypatch.delenv("COURSE_PROGRESS_FILE")
    path = progress_file()
    assert path.name == "progress.json" and "attention-course" in str(path)
    assert ROOT not in path.parents


def test_missing_file_is_an_empty_record(store):
    assert not store.exists()
    assert load_progress() == {"version": 1, "quizzes": {}, "exercises": {}}
    report = progress()
    assert all(not c.started for c in report.chapters)


def test_quiz_answers_are_recorded_with_tries(store):
    record_quiz(CH01, "q1", False)
    record_quiz(CH01, "q1", True)
    record_quiz(CH01, "q2", False)
    data = json.loads(store.read_text())
    q1, q2 = data["quizzes"][CH01]["q1"], data["quizzes"][CH01]["q2"]
    assert (q1["correct"], q1["tries"], q1["ever_correct"]) == (True, 2, True)
    assert (q2["correct"], q2["tries"]) == (False, 1) and "ever_correct" not in q2


def test_not_yet_is_not_an_attempt(store):
    record_exercise("scores", "not yet")
    assert not store.exists()
    record_exercise("scores", "wrong")
    record_exercise("scores", "correct")
    entry = load_progress()["exercises"]["scores"]
    assert (entry["status"], entry["tries"], entry["passed"]) == ("correct", 2, True)


def test_the_write_is_atomic_and_leaves_no_temporary_files(store, monkeypatch):
    record_quiz(CH01, "q1", True)
    before = store.read_text()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(progress_store.json, "dump", broken_dump)
    with pytest.warns(UserWarning, match="could not record progress"):
        record_quiz(CH01, "q2", True)                 # a failure warns, never raises
    assert store.read_text() == before                # the old file is intact
    assert sorted(p.name for p in store.parent.iterdir()) == ["progress.json"]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 99}',
                                     '{"version": 1, "quizzes": [], "exercises": {}}'])
def test_a_corrupt_file_is_reported_kept_aside_and_replaced(store, content):
    store.parent.mkdir(parents=True)
    store.write_text(content)
    with pytest.warns(UserWarning, match="could not be read"):
        assert load_progress() == {"version": 1, "quizzes": {}, "exercises": {}}
    assert (store.parent / "progress.json.corrupt").read_text() == content
    record_quiz(CH01, "q1", True)                     # and recording works again
    assert load_progress()["quizzes"][CH01]["q1"]["correct"]


def test_check_and_the_quiz_widget_record_answers(store):
    from course_utils.learner.quiz import load_quiz

    question = load_quiz(CH01).questions[0]
    right = [o.id for o in question.options if o.correct]
    wrong = [o.id for o in question.options if not o.correct]
    answer = right[0] if question.kind == "single" else right
    check(CH01, question.id, answer)
    assert load_progress()["quizzes"][CH01][question.id]["correct"] is True

    view = QuizView(CH01)
    widget = view[question.id]
    if question.kind == "single":
        widget.input.value = wrong[0]
    else:
        for option_id, box in widget.boxes.items():
            box.value = option_id in wrong[:1]
    widget.check()
    entry = load_progress()["quizzes"][CH01][question.id]
    assert (entry["correct"], entry["tries"]) == (False, 2)


def test_check_exercise_records_right_and_wrong_but_not_unfinished(store):
    def unfinished(*args):
        raise NotImplementedError

    check_exercise("scores", unfinished)
    assert not store.exists()
    check_exercise("scores", lambda q, k: q @ k.transpose(-2, -1) + 1)   # wrong
    assert load_progress()["exercises"]["scores"]["status"] == "wrong"


def test_progress_report_counts_and_revisits(store):
    from course_utils.learner.quiz import load_quiz

    questions = load_quiz(CH01).questions
    record_quiz(CH01, questions[0].id, True)
    record_quiz(CH01, questions[1].id, False)
    record_exercise("scores", "correct")
    record_exercise("context_vector", "wrong")
    report = progress()
    ch01 = next(c for c in report.chapters if c.chapter == CH01)
    assert (ch01.right, ch01.questions) == (1, len(questions))
    assert (ch01.passed, ch01.exercises) == (1, 3)
    # A question is named as the learner sees it: its number and its prompt's first words.
    start = " ".join(questions[1].prompt.split()[:5])
    assert ch01.revisit == [f"question 2 «{start}…»", "exercise context_vector"]
    text, page = repr(report), report._repr_html_()
    assert f"1 / {len(questions)}" in text and "exercise context_vector" in page
    assert "question 2 «" in page and questions[1].id not in page
    assert str(store) in text                         # outside the home folder: in full


def test_a_file_in_the_home_folder_is_shown_with_a_tilde(monkeypatch):
    home_file = Path.home() / ".local" / "share" / "attention-course" / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(home_file))
    monkeypatch.setattr(progress_module, "load_progress", lambda path=None: {
        "version": 1, "quizzes": {}, "exercises": {}})
    assert "(kept in ~/.local/share/attention-course/progress.json)" in repr(progress())


def test_reset_forgets_everything(store):
    record_quiz(CH01, "q1", True)
    assert reset_progress() == store and not store.exists()
    assert not any(c.started for c in progress().chapters)


def test_every_exercise_has_the_chapter_whose_notebook_checks_it():
    assert set(EXERCISE_CHAPTERS) == set(EXERCISES)
    for name, chapter in EXERCISE_CHAPTERS.items():
        notebook = (ROOT / "notebooks" / f"{chapter}.ipynb").read_text(encoding="utf-8")
        assert f'check_exercise(\\"{name}\\"' in notebook, (name, chapter)


def test_progress_is_exported_at_the_top_level():
    import course_utils

    assert course_utils.progress is progress and course_utils.reset_progress is reset_progress
