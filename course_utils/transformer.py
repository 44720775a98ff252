"""Moved: the Transformer's blocks now live in :mod:`course_utils.mechanisms.transformer` (layer 1,
the mechanisms the notes teach), and the whole Transformer for chapter 02's task with its trainer
in :mod:`course_utils.worlds.translation_transformer` (layer 2, the chapters' toy worlds).

This path stays so that existing notebooks and code that import ``course_utils.transformer``
keep working — the blocks, ``Transformer``, ``train_transformer`` and ``warmup_then_decay`` —;
new code imports the new paths.
"""

from .mechanisms.transformer import *  # noqa: F403
from .mechanisms.transformer import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    LayerCache,
    causal_mask,
)
from .worlds.training import warmup_then_decay
from .worlds.translation_transformer import Transformer, train_transformer

__all__ = ["FeedForward", "EncoderBlock", "causal_mask", "DecoderBlock", "LayerCache",
           "Transformer", "warmup_then_decay", "train_transformer"]
