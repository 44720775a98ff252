"""Moved: the code now lives in :mod:`course_utils.worlds.reading`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.reading``
keep working; new code imports the new path.
"""

from .worlds.reading import *  # noqa: F403
from .worlds.reading import MAX_SENTENCES, __all__  # noqa: F401  (MAX_SENTENCES: used, outside __all__)
