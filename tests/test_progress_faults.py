"""The progress store under faults: concurrent kernels, damaged or unreachable files, links.

Recording (``check``, ``check_exercise``, the quiz widget's *Check*) and ``progress()`` never
raise for a bad progress file: they warn once, naming the file, set the damaged part aside and
go on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import warnings
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from course_utils.learner import progress_store as progress_module
from course_utils.learner.exercises import check_exercise
from course_utils.learner.progress import progress
from course_utils.learner.progress_store import (
    load_progress,
    record_exercise,
    record_quiz,
    reset_progress,
)
from course_utils.learner.quiz import Feedback, Question, QuizView, check, load_quiz

CH01 = "01_attention_and_memory"
EMPTY = {"version": 1, "quizzes": {}, "exercises": {}}
Fault = Callable[[Path, pytest.MonkeyPatch], None]


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data" / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(path))
    return path


def one_warning_naming(path: Path, caught: list[warnings.WarningMessage]) -> str:
    """The single warning of ``caught``, which must name ``path``."""
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert str(path) in messages[0], messages[0]
    return messages[0]


# ================================================================ two kernels at the same time
def record_many(path: str, worker: int, count: int, barrier: Barrier) -> None:
    """One kernel: ``count`` distinct answers, started together with the others."""
    os.environ["COURSE_PROGRESS_FILE"] = path
    barrier.wait()
    for i in range(count):
        record_quiz(CH01, f"kernel{worker}-q{i}", i % 2 == 0)


def test_concurrent_kernels_keep_every_answer(store):
    kernels, count = 2, 50
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(kernels)
    workers = [context.Process(target=record_many, args=(str(store), k, count, barrier))
               for k in range(kernels)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * kernels
    answers = load_progress()["quizzes"][CH01]
    assert len(answers) == kernels * count
    assert all(entry["tries"] == 1 for entry in answers.values())
    assert sorted(p.name for p in store.parent.iterdir()) == ["progress.json"]


# ========================================================================= the faults
def write_entries(store: Path, quizzes: str = "{}", exercises: str = "{}") -> None:
    """A progress file with the given JSON text (NaN allowed) for quizzes and exercises."""
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(f'{{"version": 1, "quizzes": {quizzes}, "exercises": {exercises}}}')


def good(tries: str = "1") -> str:
    """A sound quiz answer, as JSON, with ``tries`` spelled as given."""
    return f'{{"correct": true, "tries": {tries}, "when": "2024-01-01T00:00:00+00:00"}}'


def question_bad(entry: str) -> str:
    """The quizzes of a file whose question ``bad`` of chapter 01 is recorded as ``entry``."""
    return f'{{"{CH01}": {{"bad": {entry}}}}}'


DAMAGED_ENTRIES = {
    "question_is_an_int": question_bad("3"),
    "question_is_a_string": question_bad('"right"'),
    "tries_is_text": question_bad(good('"abc"')),
    "tries_is_null": question_bad(good("null")),
    "tries_is_nan": question_bad(good("NaN")),
    "tries_is_infinite": question_bad(good("Infinity")),
    "chapter_is_a_list": f'{{"{CH01}": [1, 2]}}',
}
DAMAGED_EXERCISES = {
    "exercise_is_an_int": '{"scores": 7}',
    "exercise_tries_is_text": '{"scores": {"status": "wrong", "tries": "abc"}}',
    "exercise_tries_is_nan": '{"scores": {"status": "wrong", "tries": NaN}}',
}


def unreadable(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 does not stop root (the tests' user in CI): make reading the file fail,
    whichever way it is read."""
    write_entries(store, f'{{"{CH01}": {{"kept": {good()}}}}}')
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == store.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: read_bytes(self).decode())


def directory(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.mkdir(parents=True)


def parent_is_a_file(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.parent.parent.mkdir(parents=True, exist_ok=True)
    store.parent.write_text("not a folder")


def invalid_utf8(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.parent.mkdir(parents=True)
    store.write_bytes(b'{"version": 1, "quizzes": {"\xff\xfe": {}}, "exercises": {}}')


def deeply_nested(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.parent.mkdir(parents=True)
    store.write_text("[" * 100_000 + "]" * 100_000)


def symlink_loop(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.parent.mkdir(parents=True)
    store.symlink_to(store.name)


def damaged(quizzes: str = "{}", exercises: str = "{}") -> Fault:
    return lambda store, monkeypatch: write_entries(store, quizzes, exercises)


FAULTS = {
    **{name: damaged(quizzes=text) for name, text in DAMAGED_ENTRIES.items()},
    **{name: damaged(exercises=text) for name, text in DAMAGED_EXERCISES.items()},
    "invalid_utf8": invalid_utf8,
    "deeply_nested": deeply_nested,
    "path_is_a_directory": directory,
    "parent_is_a_file": parent_is_a_file,
    "unreadable": unreadable,
    "symlink_loop": symlink_loop,
}


def right_answer(question: Question) -> str | list[str]:
    right = [o.id for o in question.options if o.correct]
    return right[0] if question.kind == "single" else right


def through_check() -> None:
    question = load_quiz(CH01).questions[0]
    assert check(CH01, question.id, right_answer(question)).correct


def through_check_exercise() -> None:
    assert check_exercise("scores", lambda q, k: q @ k.transpose(-2, -1) + 1).status == "wrong"


def through_the_widget() -> None:
    question = load_quiz(CH01).questions[0]
    widget = QuizView(CH01)[question.id]
    if question.kind == "single":
        widget.input.value = right_answer(question)
    else:
        for option_id, box in widget.boxes.items():
            box.value = option_id in right_answer(question)
    assert isinstance(widget.check(), Feedback) and "Correct" in widget.feedback.value


def through_progress() -> None:
    report = progress()
    assert "kept in" in repr(report) and "<table" in report._repr_html_()


ENTRY_POINTS = {"check": through_check, "check_exercise": through_check_exercise,
                "widget": through_the_widget, "progress": through_progress}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_warns_once_and_never_raises(fault, entry_point, store, monkeypatch):
    FAULTS[fault](store, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ENTRY_POINTS[entry_point]()
    one_warning_naming(store, caught)


# ================================================================ what is set aside, what kept
@pytest.mark.parametrize("fault", sorted(DAMAGED_ENTRIES))
def test_a_damaged_entry_is_set_aside_and_the_rest_kept(fault, store):
    kept = f'"kept": {good("2")}'
    text = DAMAGED_ENTRIES[fault].replace(f'"{CH01}": {{', f'"{CH01}": {{{kept}, ', 1)
    if fault == "chapter_is_a_list":
        text = f'{{"{CH01}": [1, 2], "other": {{{kept}}}}}'
    write_entries(store, text, exercises='{"scores": {"status": "correct", "tries": 1}}')
    original = store.read_text()
    with pytest.warns(UserWarning, match="damaged") as caught:
        record_quiz(CH01, "new", False)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # repaired: no second warning
        data = load_progress()
    chapter = "other" if fault == "chapter_is_a_list" else CH01
    assert data["quizzes"][chapter]["kept"]["tries"] == 2
    assert "bad" not in data["quizzes"].get(CH01, {})
    assert data["quizzes"][CH01]["new"]["tries"] == 1
    assert data["exercises"]["scores"]["status"] == "correct"
    assert (store.parent / "progress.json.corrupt").read_text() == original


@pytest.mark.parametrize("fault", sorted(DAMAGED_EXERCISES))
def test_a_damaged_exercise_is_set_aside(fault, store):
    write_entries(store, f'{{"{CH01}": {{"kept": {good()}}}}}', DAMAGED_EXERCISES[fault])
    with pytest.warns(UserWarning, match="damaged"):
        record_exercise("scores", "correct")
    data = load_progress()
    assert data["exercises"]["scores"]["tries"] == 1 and data["exercises"]["scores"]["passed"]
    assert data["quizzes"][CH01]["kept"]["correct"] is True


@pytest.mark.parametrize("fault", ["invalid_utf8", "deeply_nested"])
def test_an_unparsable_file_is_moved_aside(fault, store, monkeypatch):
    FAULTS[fault](store, monkeypatch)
    original = store.read_bytes()
    with pytest.warns(UserWarning, match="could not be read"):
        assert load_progress() == EMPTY
    assert (store.parent / "progress.json.corrupt").read_bytes() == original
    record_quiz(CH01, "q1", True)
    assert load_progress()["quizzes"][CH01]["q1"]["correct"] is True


def test_an_unreadable_file_is_not_overwritten(store, monkeypatch):
    unreadable(store, monkeypatch)
    with open(store, encoding="utf-8") as f:
        before = f.read()
    with pytest.warns(UserWarning, match="could not record progress"):
        record_quiz(CH01, "q1", True)
    with open(store, encoding="utf-8") as f:
        assert f.read() == before


def test_a_directory_in_the_way_is_left_alone(store, monkeypatch):
    directory(store, monkeypatch)
    with pytest.warns(UserWarning, match="could not record progress"):
        record_quiz(CH01, "q1", True)
    assert store.is_dir() and list(store.iterdir()) == []


def test_a_file_in_the_way_of_the_folder_is_left_alone(store, monkeypatch):
    parent_is_a_file(store, monkeypatch)
    with pytest.warns(UserWarning, match="could not record progress"):
        record_quiz(CH01, "q1", True)
    assert store.parent.read_text() == "not a folder"


# =============================================================================== symlinks
def test_a_symlinked_progress_file_is_written_through(store, tmp_path):
    target = tmp_path / "synced" / "progress.json"
    target.parent.mkdir()
    store.parent.mkdir()
    store.symlink_to(target)                                 # not there yet: a dangling link
    record_quiz(CH01, "q1", True)
    record_quiz(CH01, "q2", False)
    assert store.is_symlink() and os.readlink(store) == str(target)
    assert set(json.loads(target.read_text())["quizzes"][CH01]) == {"q1", "q2"}
    assert sorted(p.name for p in store.parent.iterdir()) == ["progress.json"]


def test_a_corrupt_symlinked_file_is_set_aside_beside_its_target(store, tmp_path):
    target = tmp_path / "synced" / "progress.json"
    target.parent.mkdir()
    target.write_text("{not json")
    store.parent.mkdir()
    store.symlink_to(target)
    with pytest.warns(UserWarning, match="could not be read"):
        record_quiz(CH01, "q1", True)
    assert store.is_symlink() and (target.parent / "progress.json.corrupt").exists()
    assert list(json.loads(target.read_text())["quizzes"][CH01]) == ["q1"]


def test_reset_of_a_symlinked_file_keeps_the_link(store, tmp_path):
    target = tmp_path / "synced" / "progress.json"
    target.parent.mkdir()
    store.parent.mkdir()
    store.symlink_to(target)
    record_quiz(CH01, "q1", True)
    reset_progress()
    assert store.is_symlink() and not target.exists()
    assert load_progress() == EMPTY
    record_quiz(CH01, "q2", True)
    assert store.is_symlink() and list(json.loads(target.read_text())["quizzes"][CH01]) == ["q2"]


# ============================================================================ reset_progress
@pytest.mark.parametrize("refused", ["delete", "lock"])
def test_reset_in_a_read_only_folder_says_what_to_do(refused, store, monkeypatch):
    record_quiz(CH01, "q1", True)
    real_unlink = os.unlink

    def read_only(path: str | Path, *args: object, **kwargs: object) -> None:
        if Path(path).parent == store.parent:     # root ignores permissions: simulate them
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, *args, **kwargs)

    if refused == "delete":
        monkeypatch.setattr(os, "unlink", read_only)
    else:                                          # the lock file cannot even be created
        monkeypatch.setattr(progress_module, "FileLock", read_only)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reset_progress() == store
    message = one_warning_naming(store, caught)
    assert "delete" in message and "COURSE_PROGRESS_FILE" in message
    assert store.exists()
