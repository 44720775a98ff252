"""Moved: the code now lives in :mod:`course_utils.learner.quiz` (layer 3, the learner's tools).

This path stays so that existing notebooks and code that import ``course_utils.quiz`` keep
working; new code imports the new path.
"""

from .learner.quiz import *  # noqa: F403
from .learner.quiz import (  # noqa: F401
    TRY_AGAIN,
    QuestionWidget,
    __all__,
    answer_text,
    grade,
    static_quiz_html,
)
