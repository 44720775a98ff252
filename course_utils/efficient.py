"""Moved: the code now lives in :mod:`course_utils.mechanisms.efficient`
(layer 1, the mechanisms the notes teach).

This path stays so that existing notebooks and code that import ``course_utils.efficient``
keep working; new code imports the new path.
"""

from .mechanisms.efficient import *  # noqa: F403
from .mechanisms.efficient import __all__  # noqa: F401
