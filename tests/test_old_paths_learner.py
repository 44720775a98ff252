"""The learner's tools moved into ``course_utils.learner``; the old paths still work.

The names below are what ``course_utils.heatmaps``, ``quiz``, ``exercises`` and ``records``
offered before the move (their ``__all__`` and the other public names they defined). Each must
still be there, and be the very object that the new home holds, so that a notebook, a monkey
patch or an ``isinstance`` check sees one thing whichever path it came by.

Also kept here: ``import course_utils`` and building a model load none of the learner's tools
(each checked in a fresh interpreter), and the progress store, the quizzes and the exercises no
longer import one another in a circle.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# old module -> {name: the module that now holds it}
OLD_NAMES = {
    "course_utils.heatmaps": {
        **dict.fromkeys(["use_course_style", "heatmap", "overlay", "spotlight", "CMAP", "DPI",
                         "MAX_TICKS"], "course_utils.learner.heatmaps"),
        **dict.fromkeys(["Frame", "HeatmapExplorer", "Overlay", "OverlayExplorer", "Panel",
                         "PanelExplorer"], "course_utils.learner.explorers"),
    },
    "course_utils.quiz": dict.fromkeys(
        ["Option", "Mistake", "Question", "Quiz", "Feedback", "QuizFormatError", "quiz_dir",
         "quiz_path", "load_quiz", "load_quiz_file", "check", "show_quiz", "QuizView",
         "QuestionWidget", "TRY_AGAIN", "answer_text", "grade", "static_quiz_html"],
        "course_utils.learner.quiz"),
    "course_utils.exercises": dict.fromkeys(
        ["ExerciseResult", "Exercise", "EXERCISES", "EXERCISE_CHAPTERS", "check_exercise",
         "DEFAULT_TIMEOUT", "TIMEOUT_ENV", "Diagnosis"], "course_utils.learner.exercises.engine"),
    "course_utils.records": {
        **dict.fromkeys(["progress_file", "record_quiz", "record_exercise", "load_progress",
                         "reset_progress", "ENV", "VERSION", "LOCK_TIMEOUT_S"],
                        "course_utils.learner.progress_store"),
        **dict.fromkeys(["progress", "ChapterProgress", "ProgressReport", "PROMPT_WORDS"],
                        "course_utils.learner.progress"),
    },
}

OLD_ALL = {
    "course_utils.heatmaps": ["use_course_style", "heatmap", "Frame", "HeatmapExplorer",
                              "overlay", "spotlight", "Overlay", "OverlayExplorer", "Panel",
                              "PanelExplorer"],
    "course_utils.quiz": ["Option", "Mistake", "Question", "Quiz", "Feedback", "QuizFormatError",
                          "quiz_dir", "quiz_path", "load_quiz", "load_quiz_file", "check",
                          "show_quiz", "QuizView"],
    "course_utils.exercises": ["ExerciseResult", "Exercise", "EXERCISES", "EXERCISE_CHAPTERS",
                               "check_exercise", "DEFAULT_TIMEOUT", "TIMEOUT_ENV"],
    "course_utils.records": ["progress_file", "record_quiz", "record_exercise", "load_progress",
                             "progress", "reset_progress", "ChapterProgress", "ProgressReport"],
}


@pytest.mark.parametrize(("old", "name"), [(old, name) for old, names in OLD_NAMES.items()
                                           for name in names])
def test_an_old_path_still_offers_the_name_and_it_is_the_new_homes_object(old, name):
    new = OLD_NAMES[old][name]
    assert getattr(importlib.import_module(old), name) is \
        getattr(importlib.import_module(new), name), (old, name, new)


@pytest.mark.parametrize("old", sorted(OLD_ALL))
def test_an_old_path_keeps_its_all(old):
    module = importlib.import_module(old)
    assert list(module.__all__) == OLD_ALL[old]
    namespace: dict = {}
    exec(f"from {old} import *", namespace)  # noqa: S102  (what a notebook's star import gets)
    assert set(OLD_ALL[old]) <= set(namespace)


def test_the_top_level_names_still_work():
    import course_utils
    from course_utils import progress, reset_progress, set_seed  # noqa: F401
    from course_utils.learner.progress import progress as report
    from course_utils.learner.progress_store import reset_progress as forget

    assert course_utils.progress is report and course_utils.reset_progress is forget
    assert {"set_seed", "device", "progress", "reset_progress"} <= set(dir(course_utils))
    with pytest.raises(AttributeError, match="no_such_name"):
        course_utils.no_such_name  # noqa: B018


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return what it printed."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


LOADED = "print(sorted(m for m in sys.modules if m.startswith('course_utils.learner')))"


def test_importing_the_package_loads_none_of_the_learners_tools():
    assert _fresh(f"""
        import sys
        import course_utils
        course_utils.set_seed(0), course_utils.device()
        {LOADED}
        """) == "[]"


def test_building_a_model_loads_none_of_the_learners_tools():
    assert _fresh(f"""
        import sys
        import torch
        from course_utils.attention import MultiHeadAttention
        from course_utils import set_seed
        set_seed(0)
        x = torch.zeros(1, 3, 8)
        MultiHeadAttention(8, 2)(x, x, x)
        {LOADED}
        """) == "[]"


def test_progress_is_loaded_on_first_use():
    assert _fresh("""
        import sys
        import course_utils
        before = 'course_utils.learner.progress' in sys.modules
        report = course_utils.progress
        print(before, report.__module__)
        """) == "False course_utils.learner.progress"


@pytest.mark.parametrize(("module", "not_loaded"), [
    ("course_utils.learner.progress_store", ["quiz", "exercises", "progress"]),
    ("course_utils.learner.quiz", ["exercises", "progress"]),
    ("course_utils.learner.exercises", ["quiz", "progress"]),
])
def test_the_store_the_quizzes_and_the_exercises_need_not_one_another(module, not_loaded):
    """The quizzes and the exercises record through the store; only the report reads them."""
    loaded = _fresh(f"""
        import sys
        import {module}
        {LOADED}
        """)
    for name in not_loaded:
        assert f"'course_utils.learner.{name}'" not in loaded, (module, loaded)
