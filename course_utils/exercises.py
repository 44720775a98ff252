"""Moved: the code now lives in :mod:`course_utils.learner.exercises` (layer 3, the learner's
tools): ``engine`` checks, ``chapter_01`` … ``chapter_10`` hold each chapter's exercises.

This path stays so that existing notebooks and code that import ``course_utils.exercises``
keep working; new code imports the new path.
"""

from .learner.exercises import *  # noqa: F403
from .learner.exercises import __all__  # noqa: F401
from .learner.exercises.engine import Diagnosis  # noqa: F401
