"""Moved: the code now lives in :mod:`course_utils.mechanisms.attention`
(layer 1, the mechanisms the notes teach).

This path stays so that existing notebooks and code that import ``course_utils.attention``
keep working; new code imports the new path.
"""

from .mechanisms.attention import *  # noqa: F403
from .mechanisms.attention import __all__  # noqa: F401
