"""Moved: the code now lives in :mod:`course_utils.learner.progress_store` (the progress file:
load, record, reset) and :mod:`course_utils.learner.progress` (the report), layer 3.

This path stays so that existing notebooks and code that import ``course_utils.records``
keep working; new code imports the new paths.
"""

from .learner.progress import (  # noqa: F401  (PROMPT_WORDS: as before, outside __all__)
    PROMPT_WORDS,
    ChapterProgress,
    ProgressReport,
    progress,
)
from .learner.progress_store import (  # noqa: F401  (ENV, VERSION, LOCK_TIMEOUT_S: the same)
    ENV,
    LOCK_TIMEOUT_S,
    VERSION,
    load_progress,
    progress_file,
    record_exercise,
    record_quiz,
    reset_progress,
)

__all__ = ["progress_file", "record_quiz", "record_exercise", "load_progress", "progress",
           "reset_progress", "ChapterProgress", "ProgressReport"]
