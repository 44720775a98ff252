"""Moved: the code now lives in :mod:`course_utils.worlds.checkpoints`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.checkpoints``
keep working; new code imports the new path.
"""

from .worlds.checkpoints import *  # noqa: F403
from .worlds.checkpoints import MANIFEST, MANIFEST_LINE, __all__  # noqa: F401  (MANIFEST, MANIFEST_LINE: used, outside __all__)
