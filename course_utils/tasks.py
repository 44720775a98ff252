"""Moved: the code now lives in :mod:`course_utils.worlds.toy_tasks`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.tasks``
keep working; new code imports the new path.
"""

from .worlds.toy_tasks import *  # noqa: F403
from .worlds.toy_tasks import __all__  # noqa: F401
