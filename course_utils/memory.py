"""Moved: the code now lives in :mod:`course_utils.mechanisms.memory`
(layer 1, the mechanisms the notes teach).

This path stays so that existing notebooks and code that import ``course_utils.memory``
keep working; new code imports the new path.
"""

from .mechanisms.memory import *  # noqa: F403
from .mechanisms.memory import __all__  # noqa: F401
