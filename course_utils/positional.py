"""Moved: the code now lives in :mod:`course_utils.mechanisms.positional`
(layer 1, the mechanisms the notes teach).

This path stays so that existing notebooks and code that import ``course_utils.positional``
keep working; new code imports the new path.
"""

from .mechanisms.positional import *  # noqa: F403
from .mechanisms.positional import __all__  # noqa: F401
