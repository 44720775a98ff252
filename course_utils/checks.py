"""Moved: the code now lives in :mod:`course_utils.foundations.checks`
(layer 0, the foundations every layer imports).

This path stays so that existing notebooks and code that import ``course_utils.checks``
keep working; new code imports the new path.
"""

from .foundations.checks import *  # noqa: F403
from .foundations.checks import __all__  # noqa: F401
