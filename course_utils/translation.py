"""Moved: the code now lives in :mod:`course_utils.worlds.translation`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.translation``
keep working; new code imports the new path.
"""

from .worlds.translation import *  # noqa: F403
from .worlds.translation import __all__  # noqa: F401
