"""Moved: the code now lives in :mod:`course_utils.worlds.seq2seq`
(layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.seq2seq``
keep working; new code imports the new path.
"""

from .worlds.seq2seq import *  # noqa: F403
from .worlds.seq2seq import __all__  # noqa: F401
