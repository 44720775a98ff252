"""Moved: the code now lives in :mod:`course_utils.worlds.captioning`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.captioning``
keep working; new code imports the new path.
"""

from .worlds.captioning import *  # noqa: F403
from .worlds.captioning import WORDS, __all__  # noqa: F401  (WORDS: used, outside __all__)
