"""Moved: the Neural Turing Machine and its LSTM baseline now live in
:mod:`course_utils.mechanisms.ntm` (layer 1, the mechanisms the notes teach), and their training on
the copy task, ``train_copy``, in :mod:`course_utils.worlds.copy_training` (layer 2, the chapters'
toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.ntm`` keep
working; new code imports the new paths.
"""

from .mechanisms.ntm import *  # noqa: F403
from .mechanisms.ntm import (
    EPS,  # noqa: F401  (outside __all__; the tests use it)
    NTM,
    LSTMBaseline,
    NTMOutput,
    circular_shift,
    content_addressing,
    interpolate,
    read,
    sharpen,
    write,
)
from .worlds.copy_training import train_copy

__all__ = ["content_addressing", "interpolate", "circular_shift", "sharpen", "read", "write",
           "NTMOutput", "NTM", "LSTMBaseline", "train_copy"]
