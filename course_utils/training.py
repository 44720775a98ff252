"""Moved: the code now lives in :mod:`course_utils.worlds.training`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.training``
keep working; new code imports the new path.
"""

from .worlds.training import *  # noqa: F403
from .worlds.training import __all__  # noqa: F401
