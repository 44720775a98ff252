"""Exercise checkers: run the learner's function on generated cases and say what is wrong.

``check_exercise("scores", scores)`` checks the learner's ``scores`` against the reference on
every case and answers ✓, ✗ with the first failing case and the mistake it shows, or "not yet"
for an unfinished function; a right or wrong verdict is recorded for
:func:`course_utils.progress`.

* ``engine``        :func:`check_exercise`, the registry, the time limit, the shared diagnoses
* ``chapter_NN``    chapter NN's exercises: references, test cases, the mistakes they recognise
"""

from __future__ import annotations

from . import (  # noqa: F401  (each chapter registers its exercises when imported)
    chapter_01,
    chapter_02,
    chapter_03,
    chapter_04,
    chapter_05,
    chapter_06,
    chapter_07,
    chapter_08,
    chapter_09,
    chapter_10,
    chapter_11,
)
from .engine import (
    DEFAULT_TIMEOUT,
    EXERCISE_CHAPTERS,
    EXERCISES,
    TIMEOUT_ENV,
    Exercise,
    ExerciseResult,
    check_exercise,
)

__all__ = ["ExerciseResult", "Exercise", "EXERCISES", "EXERCISE_CHAPTERS", "check_exercise",
           "DEFAULT_TIMEOUT", "TIMEOUT_ENV"]
