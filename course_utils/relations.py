"""Moved: the code now lives in :mod:`course_utils.worlds.relations`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.relations``
keep working; new code imports the new path.
"""

from .worlds.relations import *  # noqa: F403
from .worlds.relations import DIGITS, IGNORE, __all__  # noqa: F401  (DIGITS, IGNORE: used, outside __all__)
